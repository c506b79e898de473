// Package install runs what ships as a cluster runs it: config/ applied for
// real to a fresh API server (OwnerReferencesPermissionEnforcement on, RBAC
// aggregated by kube-controller-manager), and the built binaries of the
// controller, audit and tokenrefresh started with their config/ environment
// as their own ServiceAccounts. The API server calls the controller's
// admission webhooks through their Service, with the certificate the
// controller made. Only Knative Serving is stood in for: its controller
// does not run, so tests mark the proxy Services Ready.
package install

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/shipped"
)

const systemNamespace = connectorapi.SystemNamespace

var (
	cluster    *kube.Cluster
	connectors connectorclientset.Interface
	serving    servingclientset.Interface
	// controller is the running controller binary.
	controller *controllerProcess
	// auditURL and tokenrefreshURL are the functions' base URLs.
	auditURL, tokenrefreshURL string
)

// image is what ko would make of a ko:// path in config/.
func image(koPath string) string {
	return "registry.example.com/oci-connector/" + koPath + ":install"
}

func TestMain(m *testing.M) {
	runner := &harness.Runner{}
	cluster = kube.Start(runner)
	connectors = connectorclientset.NewForConfigOrDie(cluster.Config)
	serving = servingclientset.NewForConfigOrDie(cluster.Config)
	applyConfig(runner)

	auditURL = startFunction(runner, "600-audit.yaml", "audit", "./functions/audit")
	// No cluster DNS here: the audit function's cluster-local name is its address.
	tokenrefreshURL = startFunction(runner, "600-tokenrefresh.yaml", "tokenrefresh", "./functions/tokenrefresh", "AUDIT_URL="+auditURL)
	controller = startController(runner)

	code := m.Run()
	if code != 0 {
		// What the controller said is the first thing to read on a failure.
		if raw, err := os.ReadFile(controller.server.LogPath); err == nil {
			fmt.Fprintf(os.Stderr, "--- the controller's errors:\n%s", errorLines(raw))
		}
	}
	runner.Close()
	os.Exit(code)
}

// applyConfig applies every file of config/ for real, with ko:// images as
// ko would resolve them.
func applyConfig(t harness.T) {
	// kubectl applies a directory in file order: the namespace first.
	if out, err := cluster.Kubectl(t, "apply", "-f", shipped.Config(t, image)); err != nil {
		t.Fatalf("kubectl apply -f config/: %v\n%s", err, out)
	}
}

// controllerProcess is the controller binary, which a test may stop and
// start again.
type controllerProcess struct {
	t           harness.T
	env         []string
	webhookAddr string
	server      *harness.Server
}

// startController runs ./reconcilers as config/500-controller.yaml does, as
// the oci-connector-controller ServiceAccount, and routes the webhook
// Service to it.
func startController(t harness.T) *controllerProcess {
	workload := shipped.Load(t, "500-controller.yaml", "oci-connector-controller")
	dir := t.TempDir()
	workload.VolumeDirs(t, dir)
	workload.ProjectedTokens(t, dir, mintFor(t, workload))
	hostIP := hostAddress(t)
	webhookPort := harness.FreePort(t)
	env := append(workload.Env(t, image, dir),
		"KUBECONFIG="+cluster.KubeconfigAs(t, workload.Namespace, workload.ServiceAccount()),
		// A pod has its own ports; a process here takes free ones.
		fmt.Sprintf("WEBHOOK_PORT=%d", webhookPort),
		fmt.Sprintf("PROFILING_PORT=%d", harness.FreePort(t)),
		// No cluster DNS here: tokenrefresh's and the audit function's
		// cluster-local names are these addresses.
		"TOKENREFRESH_URL="+tokenrefreshURL,
		"AUDIT_URL="+auditURL,
	)
	routeWebhookService(t, hostIP, webhookPort)
	p := &controllerProcess{t: t, env: env, webhookAddr: fmt.Sprintf("127.0.0.1:%d", webhookPort)}
	p.start()
	return p
}

// start runs the controller and waits until its webhooks serve their
// certificate for the Service's name, as the API server will ask: the port
// opens before the certificate is made.
func (p *controllerProcess) start() {
	p.server = harness.StartServer(p.t, harness.GoBinary(p.t, "./reconcilers"), nil, p.env, p.webhookAddr)
	serverName := connectorapi.WebhookServiceName + "." + systemNamespace + ".svc"
	harness.WaitFor(p.t, 60*time.Second, "the webhooks' certificate for "+serverName, func(ctx context.Context) (bool, string) {
		d := tls.Dialer{Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}} //nolint:gosec // only whether a certificate is served
		conn, err := d.DialContext(ctx, "tcp", p.webhookAddr)
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
}

// stop ends the controller and waits until it has exited.
func (p *controllerProcess) stop() {
	_ = p.server.Cmd.Process.Signal(os.Interrupt)
	_ = p.server.Cmd.Wait()
}

// startFunction runs a function's binary as config/<file> does, with
// extraEnv over it, and waits until it answers /healthz.
func startFunction(t harness.T, file, name, pkg string, extraEnv ...string) string {
	workload := shipped.Load(t, file, name)
	dir := t.TempDir()
	workload.VolumeDirs(t, dir)
	workload.ProjectedTokens(t, dir, mintFor(t, workload))
	env := append(workload.Env(t, image, dir), extraEnv...)
	if workload.Spec.ServiceAccountName != "" {
		env = append(env, "KUBECONFIG="+cluster.KubeconfigAs(t, workload.Namespace, workload.ServiceAccount()))
	}
	addr := harness.FreeAddr(t)
	// Knative sets PORT; the flag keeps the test server on 127.0.0.1.
	harness.StartServer(t, harness.GoBinary(t, pkg), []string{"--listen", addr}, env, addr)
	return "http://" + addr
}

// mintFor mints the workload's ServiceAccount tokens, as the kubelet does
// for its projected volumes.
func mintFor(t harness.T, w shipped.Workload) func(audience string) string {
	return func(audience string) string {
		return cluster.Token(t, w.Namespace, w.ServiceAccount(), audience, time.Hour)
	}
}

// routeWebhookService gives the webhook Service an EndpointSlice at this
// host, as the endpoint controller would for the controller's pod. The API
// server (--enable-aggregator-routing) then calls the webhooks there, by
// the Service's name, verifying the certificate the controller made.
func routeWebhookService(t harness.T, ip string, port int) {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "oci-connector-webhook-test",
			Namespace: systemNamespace,
			Labels:    map[string]string{discoveryv1.LabelServiceName: connectorapi.WebhookServiceName},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr.To("https-webhook"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}
	if _, err := cluster.Client.DiscoveryV1().EndpointSlices(systemNamespace).Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("routing the webhook Service: %v", err)
	}
}

// hostAddress is this host's first non-loopback IPv4 address: the API server
// refuses loopback addresses in an EndpointSlice, and Knative's webhook
// listens on every address, as in a pod.
func hostAddress(t harness.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("listing addresses: %v", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatalf("no non-loopback IPv4 address on this host to route the webhook Service to")
	return ""
}

// waitFor polls until cond holds, or fails t with the last state seen.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	harness.WaitFor(t, 90*time.Second, what, cond)
}

// errorLines are the error-level lines of a zap JSON log.
func errorLines(log []byte) string {
	var out strings.Builder
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `"severity":"error"`) || strings.Contains(line, `"level":"error"`) {
			if len(line) > 1500 {
				line = line[:1500] + "..."
			}
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}
