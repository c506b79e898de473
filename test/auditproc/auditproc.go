// Package auditproc runs the audit function's binary as a plain process on
// 127.0.0.1, as Knative would run its image: for the e2e tests and the
// benchmarks.
package auditproc

import (
	"path/filepath"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
)

// Proc is a running audit function.
type Proc struct {
	// URL is its base, http://127.0.0.1:<port>: the CloudEvents sink and the API.
	URL     string
	LogPath string
}

// Start runs the audit function until t's cleanup, on PostgreSQL when
// databaseURL is set, else on a fresh SQLite file, as its shipped
// ServiceAccount (config/200-clusterrole-audit.yaml must be applied).
func Start(t harness.T, cluster *kube.Cluster, databaseURL string) *Proc {
	t.Helper()
	addr := harness.FreeAddr(t)
	srv := harness.StartServer(t, harness.GoBinary(t, "./functions/audit"),
		[]string{"--listen", addr, "--sqlite", filepath.Join(t.TempDir(), "audit.db"),
			"--kubeconfig", cluster.KubeconfigAs(t, connectorapi.SystemNamespace, ServiceAccount),
			"--system-namespace", connectorapi.SystemNamespace},
		[]string{"DATABASE_URL=" + databaseURL}, addr)
	return &Proc{URL: "http://" + addr, LogPath: srv.LogPath}
}

// ServiceAccount is the audit function's, as config/ ships it.
const ServiceAccount = "oci-connector-audit"

// SenderTokenFile writes a token of namespace/serviceAccount for the audit
// audience, as a sender's projected volume holds it, and returns its path.
func SenderTokenFile(t harness.T, cluster *kube.Cluster, namespace, serviceAccount string) string {
	t.Helper()
	return cluster.TokenFile(t, namespace, serviceAccount, events.AuditAudience)
}
