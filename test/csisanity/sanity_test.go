// Package csisanity runs the CSI community's csi-sanity suite against the
// built CSI driver. It is a module of its own: csi-test needs a newer klog
// than Knative pins, and the main module keeps Knative's pins.
package csisanity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/shipped"
)

// The driver runs as config/700-csi-driver.yaml runs it, as its
// ServiceAccount with the shipped RBAC, against a real API server.
func TestCSISanity(t *testing.T) {
	cluster := kube.Start(t)
	cluster.InstallCRDs(t)
	cluster.ApplyConfig(t, "100-namespace.yaml", "200-serviceaccount.yaml", "200-clusterrole-csi.yaml")
	w := shipped.Load(t, "700-csi-driver.yaml", "oci-connector-csi")
	w.NodeName = "sanity-node"
	dir := t.TempDir()
	socket := filepath.Join(dir, "csi.sock")
	args := append(w.Args(), "--endpoint=unix://"+socket, "--state-dir="+filepath.Join(dir, "state"),
		"--kubeconfig="+cluster.KubeconfigAs(t, w.Namespace, w.ServiceAccount()))
	harness.StartProcess(t, harness.GoBinary(t, "./node/csi"), args, w.Env(t, nil, dir))
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	harness.WaitFor(t, 60*time.Second, "the CSI driver", func(ctx context.Context) (bool, string) {
		resp, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			return false, err.Error()
		}
		return resp.GetReady().GetValue(), ""
	})

	config := sanity.NewTestConfig()
	config.Address = "unix://" + socket
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
