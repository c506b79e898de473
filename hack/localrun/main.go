// Command localrun is `make run`: it starts a real kube-apiserver and etcd, an
// upstream registry and the oci-connector controller on 127.0.0.1, applies a
// Connector with its Secret, and shows the Connector's conditions as they
// change until it is Ready. Then it runs the Connector's proxy, mints a
// ServiceAccount token, prints client commands and pulls through the proxy
// with skopeo. Everything keeps running for kubectl and the clients until
// interrupted (or it exits, with -once).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

const (
	namespace = "platform"
	name      = "harbor"
)

func main() {
	once := flag.Bool("once", false, "exit once the Connector is Ready instead of waiting for Ctrl-C")
	flag.Parse()
	log.SetFlags(log.Ltime)

	r := &harness.Runner{}
	defer r.Close()
	fail = r.Fatalf

	log.Print("starting etcd and kube-apiserver on 127.0.0.1")
	cluster := kube.Start(r)
	log.Print("starting an upstream registry (distribution, htpasswd auth) seeded with " + registry.SeedRepository + ":" + registry.SeedTag)
	reg := registry.NewHtpasswd(r)
	cluster.ApplyConfig(r, "100-namespace.yaml", "200-clusterrole.yaml", "200-clusterrole-proxy-access.yaml", "400-webhook-service.yaml")
	log.Print("starting the oci-connector controller and its admission webhooks")
	controlplane.Start(r, cluster.Config, controlplane.Options{})
	webhook := controlplane.StartWebhook(r, cluster.Config, controlplane.Options{})
	webhook.Install(r, cluster.Config)
	log.Printf("webhooks serving on %s; config/'s webhook configurations point there", webhook.URL)

	cluster.EnsureNamespace(r, namespace)
	c := controlplane.ReadyConnector(r, cluster.Config, &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            reg.URL,
			Auth: v1alpha1.ConnectorAuth{
				Name:      v1alpha1.AuthBasic,
				SecretRef: &v1alpha1.SecretReference{Name: "harbor-secret"},
				Params:    []v1alpha1.Param{{Name: v1alpha1.ParamRepository, Value: registry.SeedRepository}},
			},
		},
	}, registry.SecretData(), func(msg string) { log.Print(msg) })
	log.Printf("Connector %s/%s is Ready: url %s, in-cluster address %s", namespace, name, c.Status.URL, c.Status.Address.URL)

	// Knative would run the proxy image; here the same binary runs as a
	// process, as the ServiceAccount the controller made for it.
	proxy := proxyproc.Start(r, proxyproc.Options{
		Upstream:   reg.URL,
		Namespace:  namespace,
		Name:       name,
		Kubeconfig: cluster.KubeconfigAs(r, namespace, "oci-connector-proxy"),
		Secret:     registry.SecretData(),
	})
	log.Printf("proxy for %s/%s serving on http://%s (log: %s)", namespace, name, proxy.Host, proxy.LogPath)

	cluster.BindClusterRole(r, namespace, "app", connector.PullerClusterRole, namespace)
	token := cluster.Token(r, namespace, "app", c.Status.Audience, time.Hour)
	image := proxy.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
	tokenFile := filepath.Join(r.TempDir(), "token")
	check(os.WriteFile(tokenFile, []byte(token), 0o600))
	fmt.Printf(`
The ServiceAccount %s/app may pull through the proxy. Its token is in %s. Try:
  TOKEN=$(cat %s)
  skopeo inspect --tls-verify=false --creds "u:$TOKEN" docker://%s
  %s manifest --insecure %s   # after: %s auth login %s -u u -p "$TOKEN" --insecure
  ctr images pull --plain-http --user "u:$TOKEN" %s
`, namespace, tokenFile, tokenFile, image, harness.Bin(r, "crane"), image, harness.Bin(r, "crane"), proxy.Host, image)

	log.Printf("pulling %s through the proxy with skopeo", image)
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--creds", "u:"+token, "docker://"+image).CombinedOutput()
	if err != nil {
		fail("skopeo inspect through the proxy: %v\n%s", err, out)
	}
	log.Printf("skopeo read the image through the proxy: digest %s", digestOf(out))

	showPodRewrite(r, cluster, reg)

	if *once {
		return
	}
	fmt.Printf("\nThe cluster keeps running. In another shell:\n  export KUBECONFIG=%s\n  %s get conn -A\n\nCtrl-C stops everything.\n", cluster.Kubeconfig, harness.Bin(r, "kubectl"))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	log.Print("stopping")
}

// digestOf picks the digest out of skopeo inspect's JSON.
func digestOf(inspect []byte) string {
	var out struct{ Digest string }
	if err := json.Unmarshal(inspect, &out); err != nil {
		return "?"
	}
	return out.Digest
}

// showPodRewrite creates an opted-in pod as in the OCI Connector deployment
// guide and shows what the API server stored.
func showPodRewrite(r *harness.Runner, cluster *kube.Cluster, reg *registry.Registry) {
	image := strings.TrimPrefix(reg.URL, "http://") + "/" + registry.SeedRepository + ":" + registry.SeedTag
	pod, err := cluster.Client.CoreV1().Pods(namespace).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "demo",
			Labels:      map[string]string{connector.InjectLabel: "true"},
			Annotations: map[string]string{connector.ConnectorAnnotation: namespace + "/" + name},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			Containers:         []corev1.Container{{Name: "app", Image: image}},
		},
	}, metav1.CreateOptions{})
	check(err)
	log.Printf("created pod %s/demo with image %s; the webhook stored image %s and %s: %s",
		namespace, image, pod.Spec.Containers[0].Image, connector.OriginalImagesAnnotation, pod.Annotations[connector.OriginalImagesAnnotation])
}

// fail stops everything: through the runner, so etcd and kube-apiserver go too.
var fail func(format string, args ...any)

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}
