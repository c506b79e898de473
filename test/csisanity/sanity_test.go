// Package csisanity runs the CSI community's csi-sanity suite against the
// built CSI driver. It is a module of its own: csi-test needs a newer klog
// than Knative pins, and the main module keeps Knative's pins.
package csisanity

import (
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/oci-connector/oci-connector/test/csiproc"
	"github.com/oci-connector/oci-connector/test/kube"
)

// The driver runs as config/700-csi-driver.yaml runs it, as its
// ServiceAccount with the shipped RBAC, against a real API server.
func TestCSISanity(t *testing.T) {
	cluster := kube.Start(t)
	cluster.InstallCRDs(t)
	cluster.ApplyConfig(t, "100-namespace.yaml", "200-serviceaccount.yaml", "200-clusterrole-csi.yaml")
	driver := csiproc.Start(t, cluster, "sanity-node")
	dir := t.TempDir()

	config := sanity.NewTestConfig()
	config.Address = "unix://" + driver.Socket
	config.TargetPath = filepath.Join(dir, "target")
	config.StagingPath = filepath.Join(dir, "staging")
	sc := sanity.GinkgoTest(&config)
	// The driver serves Identity and Node only: its volumes are inline and
	// ephemeral, so there is no Controller service to test. The one Node
	// spec that needs CreateVolume is left out with it; the e2e test
	// TestCSIVolumeServesClientsThroughTheProxy checks that unpublishing
	// removes the target path.
	suite, reporter := ginkgo.GinkgoConfiguration()
	suite.SkipStrings = []string{`\[Controller Server\]`, `\[GroupController`, `should remove target path`}
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "csi-sanity against csi.oci-connector.dev", suite, reporter)
	sc.Finalize()
}
