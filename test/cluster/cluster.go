// Package cluster starts a private Kubernetes cluster with Knative Serving
// for the tests and `make cluster`, in a network namespace of the run's own
// (RunInNetns): etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kube-proxy, containerd and the kubelet as processes on
// the node, and as pods on it, built by ko from source onto a base image
// the harness makes: CoreDNS, Traefik (Knative's ingress) and Knative
// Serving v0.50.0 (controller, webhook, activator, autoscaler, and the
// queue-proxy of every revision). No image comes from outside; nothing in
// the namespace is reachable from outside the machine.
package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// NodeName is the cluster's one node.
const NodeName = "node-1"

// Cluster is a running cluster.
type Cluster struct {
	Kube *kube.Cluster
	Node *realnode.Node
	// Registry holds the cluster's images (ko pushes there); it needs no
	// login and is served over plain HTTP.
	Registry *registry.Registry
	// BaseImage is what ko builds onto.
	BaseImage string
	// Root is the repository's top directory.
	Root string
	// logf reports progress.
	logf func(string, ...any)
}

// Options change how the cluster starts.
type Options struct {
	// CredentialProviderConfig and CredentialProviderBinDir are the
	// kubelet's image credential provider flags, when set.
	CredentialProviderConfig, CredentialProviderBinDir string
}

// Start starts the cluster with Knative Serving and Traefik Ready. It must
// run inside RunInNetns's namespace.
func Start(t harness.T, o Options) *Cluster {
	t.Helper()
	if Netns() == "" {
		t.Fatalf("the cluster runs in a network namespace of its own: call cluster.RunInNetns first")
	}
	if err := setUpNetwork(); err != nil {
		t.Fatalf("setting up the cluster network: %v", err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	c := &Cluster{Root: root, logf: t.Logf}
	start := time.Now()
	c.Kube = kube.Start(t, kube.WithNode(NodeName), kube.InNetwork(NodeIP))
	// On disk: the in-memory driver is slow with the images' large layers.
	c.Registry = registry.NewOpen(t, registry.WithFilesystem(t.TempDir()))
	c.BaseImage = c.Registry.Host + "/base:1"
	pushBaseImage(t, c.BaseImage)
	realnode.PushGoImage(t, "./test/realnode/pause", c.Registry.Host+"/pause:1", authn.Anonymous)
	c.startKubeProxy(t)
	c.Node = realnode.Start(t, c.Kube, realnode.Options{
		RootDir:        mountKubeletRoot(t),
		Name:           NodeName,
		SandboxImage:   c.Registry.Host + "/pause:1",
		PlainHTTPHosts: []string{c.Registry.Host},
		NodeIP:         NodeIP,
		ClusterDNS:     DNSServiceIP,

		CredentialProviderConfig: o.CredentialProviderConfig,
		CredentialProviderBinDir: o.CredentialProviderBinDir,
	})
	c.logf("cluster: control plane and node up in %s", time.Since(start).Round(time.Second))

	c.Apply(t, "CoreDNS", c.Ko(t, filepath.Join(root, "test/tools/coredns"), "coredns", filepath.Join(root, "test/cluster/config/coredns.yaml")))
	c.Apply(t, "Traefik", c.Ko(t, filepath.Join(root, "test/tools/traefik"), "traefik", filepath.Join(root, "test/cluster/config/traefik.yaml")))
	c.installKnative(t)
	c.WaitDeployments(t, "kube-system", "coredns")
	c.WaitDeployments(t, "traefik", "traefik")
	c.WaitDeployments(t, "knative-serving", "controller", "webhook", "activator", "autoscaler")
	c.logf("cluster: Knative Serving and Traefik Ready %s after the start", time.Since(start).Round(time.Second))
	return c
}

// kubeletRoot is where config/'s DaemonSets expect the kubelet.
const kubeletRoot = "/var/lib/kubelet"

// mountKubeletRoot binds a directory of the run's over /var/lib/kubelet,
// in the run's own mount namespace: the machine's is not touched.
func mountKubeletRoot(t harness.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(kubeletRoot, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	if err := syscall.Mount(dir, kubeletRoot, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("binding %s over %s: %v", dir, kubeletRoot, err)
	}
	t.Cleanup(func() {
		harness.UnmountUnder(kubeletRoot)
		_ = syscall.Unmount(kubeletRoot, syscall.MNT_DETACH)
	})
	return kubeletRoot
}

// installKnative applies Knative Serving's config/core as ko resolves it,
// then the settings a platform team sets: Traefik as the ingress class,
// the PVC and security context features the audit function needs, and the
// longest request timeout (a layer of several GB takes long); and short
// autoscaling windows for the tests.
func (c *Cluster) installKnative(t harness.T) {
	t.Helper()
	// Module zips drop symbolic links, and config/core links what it takes
	// from knative.dev/networking (the networking CRDs, config-network) and
	// knative.dev/caching (the Image CRD): they are read from those modules,
	// at the versions serving pins.
	tools := filepath.Join(c.Root, "test/tools/knative")
	dirs := map[string]string{}
	for _, m := range []string{"knative.dev/serving", "knative.dev/networking", "knative.dev/caching"} {
		dir, err := kube.ModuleDir(tools, m)
		if err != nil {
			t.Fatalf("finding %s: %v", m, err)
		}
		dirs[m] = dir
	}
	// The definitions first, as Knative's release splits serving-crds.yaml
	// from serving-core.yaml: its webhook, once registered, must serve
	// before anything else is applied.
	networking := filepath.Join(dirs["knative.dev/networking"], "config")
	crds := []string{
		filepath.Join(networking, "certificate.yaml"), filepath.Join(networking, "domain-claim.yaml"),
		filepath.Join(networking, "ingress.yaml"), filepath.Join(networking, "serverlessservice.yaml"),
		filepath.Join(dirs["knative.dev/caching"], "config", "image.yaml"),
		filepath.Join(dirs["knative.dev/serving"], "config/core/300-resources"),
	}
	for _, dir := range crds {
		if out, err := c.Kube.Kubectl(t, "apply", "--server-side", "--force-conflicts", "-f", dir); err != nil {
			t.Fatalf("applying %s: %v\n%s", dir, err, out)
		}
	}
	if out, err := c.Kube.Kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
		t.Fatalf("waiting for the CRDs: %v\n%s", err, out)
	}
	// The namespace first (config/core's top), then what goes in it.
	core := []string{filepath.Join(dirs["knative.dev/serving"], "config/core"), filepath.Join(networking, "config-network.yaml")}
	for _, sub := range []string{"200-roles", "configmaps", "deployments", "webhooks"} {
		core = append(core, filepath.Join(dirs["knative.dev/serving"], "config/core", sub))
	}
	c.Apply(t, "Knative Serving", c.Ko(t, tools, "knative", core...))
	for cm, data := range map[string]string{
		"config-network":  `{"data":{"ingress-class":"traefik.ingress.networking.knative.dev"}}`,
		"config-features": `{"data":{"kubernetes.podspec-persistent-volume-claim":"enabled","kubernetes.podspec-persistent-volume-write":"enabled","kubernetes.podspec-securitycontext":"enabled"}}`,
		"config-defaults": `{"data":{"max-revision-timeout-seconds":"3600"}}`,
		// Short windows, so that the tests see scaling in seconds: the
		// least stable window Knative takes, and an idle revision scaled
		// to zero soon after.
		"config-autoscaler": `{"data":{"stable-window":"6s","scale-to-zero-grace-period":"6s"}}`,
	} {
		if out, err := c.Kube.Kubectl(t, "patch", "configmap", cm, "-n", "knative-serving", "--type", "merge", "-p", data); err != nil {
			t.Fatalf("patching %s: %v\n%s", cm, err, out)
		}
	}
}

// Apply applies YAML as the cluster admin.
func (c *Cluster) Apply(t harness.T, what, yaml string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apply.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	if out, err := c.Kube.Kubectl(t, "apply", "--server-side", "--force-conflicts", "-f", path); err != nil {
		t.Fatalf("applying %s: %v\n%s", what, err, out)
	}
}

// WaitDeployments waits until each named Deployment of namespace has all
// its replicas updated and available.
func (c *Cluster) WaitDeployments(t harness.T, namespace string, names ...string) {
	t.Helper()
	for _, n := range names {
		harness.WaitFor(t, 5*time.Minute, "Deployment "+namespace+"/"+n+" available", func(ctx context.Context) (bool, string) {
			d, err := c.Kube.Client.AppsV1().Deployments(namespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return deploymentAvailable(d), c.podsState(ctx, namespace)
		})
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas >= want
}

// podsState describes the pods of namespace, for failure messages.
func (c *Cluster) podsState(ctx context.Context, namespace string) string {
	pods, err := c.Kube.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "%s: %s", p.Name, p.Status.Phase)
		for _, s := range p.Status.ContainerStatuses {
			switch {
			case s.State.Waiting != nil:
				fmt.Fprintf(&b, " %s waiting (%s: %s)", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			case s.State.Terminated != nil:
				fmt.Fprintf(&b, " %s terminated (%s, exit %d)", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode)
			default:
				fmt.Fprintf(&b, " %s ready=%t restarts=%d", s.Name, s.Ready, s.RestartCount)
			}
			// Knative's containers end with their log's tail as the
			// termination message (FallbackToLogsOnError): why it crashed.
			if t := s.LastTerminationState.Terminated; t != nil && t.Message != "" {
				fmt.Fprintf(&b, "\n  %s last ended (exit %d): %s", s.Name, t.ExitCode, t.Message)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
