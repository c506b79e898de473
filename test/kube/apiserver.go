// Package kube starts a real Kubernetes control plane for tests: etcd and
// kube-apiserver, built from the Go module proxy into .bin/, on 127.0.0.1,
// with ServiceAccount token signing and RBAC on. It installs our CRDs and
// Knative Serving's, and hands tests an admin client and ServiceAccount tokens.
package kube

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Issuer is the ServiceAccount token issuer, and the API server's own audience.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Cluster is a running control plane.
type Cluster struct {
	// Config reaches the API server as a cluster admin (system:masters).
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Kubeconfig is the path of an admin kubeconfig, for kubectl.
	Kubeconfig string
	// Dir holds the cluster's files and logs.
	Dir string
	// nodeTokens are the node identities' tokens, by node name.
	nodeTokens map[string]string
}

// Option changes how the control plane starts.
type Option func(*options)

type options struct {
	nodes []string
	// advertise is the address pods reach the API server at; "" keeps
	// everything on 127.0.0.1.
	advertise string
}

// InNetwork is for a control plane in a network of its own (test/cluster):
// the API server listens on every address there and advertises address,
// which the kubernetes Service's endpoints name and kube-proxy sends
// in-cluster clients to. The controller-manager runs all its default
// controllers (Deployments, ReplicaSets, EndpointSlices, ...), as Knative
// needs of a cluster.
func InNetwork(address string) Option {
	return func(o *options) { o.advertise = address }
}

// WithNode gives the node name an identity (system:node:<name> in
// system:nodes) and turns on what guards nodes in a real cluster: the Node
// authorizer and the NodeRestriction admission plugin. It also runs the
// controllers a node and its workloads need (ServiceAccounts, Jobs, garbage
// collection, namespaces, node lifecycle, which lifts the not-ready taint
// a kubelet registers with, and the kube-root-ca.crt every pod mounts).
func WithNode(name string) Option {
	return func(o *options) { o.nodes = append(o.nodes, name) }
}

// Start starts etcd and kube-apiserver and installs the CRDs. It stops them
// when t's cleanups run.
func Start(t harness.T, opts ...Option) *Cluster {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	etcdURL := startEtcd(t, dir)

	keyPath, pubPath := writeServiceAccountKeys(t, dir)
	adminToken := rand.Text()
	tokensCSV := filepath.Join(dir, "tokens.csv")
	tokens := adminToken + ",admin,admin,system:masters\n"
	nodeTokens := map[string]string{}
	for _, node := range o.nodes {
		nodeTokens[node] = rand.Text()
		tokens += fmt.Sprintf("%s,system:node:%s,node-%s,system:nodes\n", nodeTokens[node], node, node)
	}
	if err := os.WriteFile(tokensCSV, []byte(tokens), 0o600); err != nil {
		t.Fatalf("writing the token file: %v", err)
	}
	authorization, admission := "RBAC", "OwnerReferencesPermissionEnforcement"
	if len(o.nodes) > 0 {
		authorization, admission = "Node,RBAC", admission+",NodeRestriction"
	}

	port := harness.FreePort(t)
	bind, advertise := "127.0.0.1", "127.0.0.1"
	if o.advertise != "" {
		bind, advertise = "0.0.0.0", o.advertise
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + bind,
		"--advertise-address=" + advertise,
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + tokensCSV,
		"--authorization-mode=" + authorization,
		"--service-account-issuer=" + Issuer,
		"--service-account-key-file=" + pubPath,
		"--service-account-signing-key-file=" + keyPath,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// As OpenShift runs it: setting an owner reference takes delete on
		// the object, and blockOwnerDeletion update on the owner's finalizers.
		"--enable-admission-plugins=" + admission,
		// Admission webhooks are called at their Service's EndpointSlice
		// addresses, as no kube-proxy runs.
		"--enable-aggregator-routing=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	logPath := filepath.Join(dir, "kube-apiserver.log")
	startProcess(t, harness.Bin(t, "kube-apiserver"), args, logPath)

	c := &Cluster{
		Config: &rest.Config{
			Host:            fmt.Sprintf("https://127.0.0.1:%d", port),
			BearerToken:     adminToken,
			TLSClientConfig: rest.TLSClientConfig{Insecure: true},
			QPS:             200,
			Burst:           400,
		},
		Dir:        dir,
		nodeTokens: nodeTokens,
	}
	var err error
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatalf("admin client: %v", err)
	}
	c.waitReady(t, logPath)
	c.Kubeconfig = c.writeKubeconfig(t)
	controllers := "clusterrole-aggregation"
	if len(o.nodes) > 0 {
		controllers += ",serviceaccount,job,garbagecollector,namespace,nodelifecycle,root-ca-cert-publisher"
	}
	if o.advertise != "" {
		controllers = "*"
	}
	c.startControllerManager(t, controllers)
	c.InstallCRDs(t)
	return c
}

// startControllerManager runs kube-controller-manager with the controllers
// the tests rely on: always ClusterRole aggregation, which fills the
// aggregated roles config/ ships (the addressable resolver).
func (c *Cluster) startControllerManager(t harness.T, controllers string) {
	t.Helper()
	startProcess(t, harness.Bin(t, "kube-controller-manager"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--controllers=" + controllers,
		// What pods' kube-root-ca.crt holds: the API server's self-signed certificate.
		"--root-ca-file=" + filepath.Join(c.Dir, "certs", "apiserver.crt"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--v=0",
	}, filepath.Join(c.Dir, "kube-controller-manager.log"))
}

func (c *Cluster) waitReady(t harness.T, logPath string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		t.Fatalf("kube-apiserver not ready within 2 minutes; its log is %s:\n%s", logPath, harness.Tail(logPath))
	}
	// The default ServiceAccount is made by a controller-manager that does
	// not run here; namespaces get theirs through EnsureServiceAccount.
}

// EnsureNamespace creates a namespace if it does not exist.
func (c *Cluster) EnsureNamespace(t harness.T, name string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrs.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// EnsureServiceAccount creates a namespace and a ServiceAccount in it if missing.
func (c *Cluster) EnsureServiceAccount(t harness.T, namespace, name string) {
	t.Helper()
	c.EnsureNamespace(t, namespace)
	_, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrs.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
}

// Token mints a token for namespace/serviceAccount with the given audience
// (the API server's own when empty), creating the ServiceAccount if missing.
func (c *Cluster) Token(t harness.T, namespace, serviceAccount, audience string, ttl time.Duration) string {
	t.Helper()
	c.EnsureServiceAccount(t, namespace, serviceAccount)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(ttl.Seconds())),
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	resp, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("minting a token for %s/%s: %v", namespace, serviceAccount, err)
	}
	return resp.Status.Token
}

// TokenFile writes a token of namespace/serviceAccount for audience, valid
// an hour, as a projected volume holds it, and returns its path.
func (c *Cluster) TokenFile(t harness.T, namespace, serviceAccount, audience string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(c.Token(t, namespace, serviceAccount, audience, time.Hour)), 0o600); err != nil {
		t.Fatalf("writing a token file: %v", err)
	}
	return path
}

func (c *Cluster) writeKubeconfig(t harness.T) string {
	t.Helper()
	return c.writeKubeconfigFor(t, "kubeconfig", c.Config.BearerToken)
}

// NodeKubeconfig writes a kubeconfig that authenticates as the node name
// given to WithNode, for its kubelet.
func (c *Cluster) NodeKubeconfig(t harness.T, name string) string {
	t.Helper()
	token, ok := c.nodeTokens[name]
	if !ok {
		t.Fatalf("node %s has no identity: start the cluster WithNode(%q)", name, name)
	}
	return c.writeKubeconfigFor(t, "kubeconfig-node-"+name, token)
}

// KubeconfigAs writes a kubeconfig that authenticates as
// namespace/serviceAccount, for a process running as that ServiceAccount.
func (c *Cluster) KubeconfigAs(t harness.T, namespace, serviceAccount string) string {
	t.Helper()
	token := c.Token(t, namespace, serviceAccount, "", time.Hour)
	return c.writeKubeconfigFor(t, "kubeconfig-"+namespace+"-"+serviceAccount, token)
}

func (c *Cluster) writeKubeconfigFor(t harness.T, file, token string) string {
	t.Helper()
	path := filepath.Join(c.Dir, file)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`, c.Config.Host, token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatalf("writing kubeconfig: %v", err)
	}
	return path
}

func startEtcd(t harness.T, dir string) string {
	t.Helper()
	client, peer := harness.FreePort(t), harness.FreePort(t)
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	startProcess(t, harness.Bin(t, "etcd"), []string{
		"--name=default",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL,
		"--unsafe-no-fsync",
		"--log-level=error",
	}, filepath.Join(dir, "etcd.log"))
	return clientURL
}

// startProcess runs a binary with its output in logPath and kills it at cleanup.
func startProcess(t harness.T, bin string, args []string, logPath string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating %s: %v", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the test process dies without its cleanups, the servers die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
}

func writeServiceAccountKeys(t harness.T, dir string) (keyPath, pubPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("ServiceAccount signing key: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("marshalling the public key: %v", err)
	}
	keyPath, pubPath = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatalf("writing %s: %v", keyPath, err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		t.Fatalf("writing %s: %v", pubPath, err)
	}
	return keyPath, pubPath
}

// Kubectl runs .bin/kubectl as the cluster admin and returns its output.
func (c *Cluster) Kubectl(t harness.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(harness.Bin(t, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ConfigAs returns a rest.Config that authenticates as namespace/serviceAccount
// with a fresh token: what a pod running as that ServiceAccount would have.
func (c *Cluster) ConfigAs(t harness.T, namespace, serviceAccount string) *rest.Config {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.BearerToken = c.Token(t, namespace, serviceAccount, "", time.Hour)
	return cfg
}

// ApplyConfig applies files of the repository's config/ directory for real,
// as the cluster admin.
func (c *Cluster) ApplyConfig(t harness.T, files ...string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	for _, f := range files {
		if out, err := c.Kubectl(t, "apply", "-f", filepath.Join(root, "config", f)); err != nil {
			t.Fatalf("applying config/%s: %v\n%s", f, err, out)
		}
	}
}
