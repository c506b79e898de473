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
	"k8s.io/apimachinery/pkg/util/wait"
	"knative.dev/pkg/apis"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
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
	cluster.ApplyConfig(r, "200-clusterrole.yaml", "200-clusterrole-proxy-access.yaml")
	log.Print("starting the oci-connector controller")
	controlplane.Start(r, cluster.Config, controlplane.Options{})

	ctx := context.Background()
	connectors := must(connectorclientset.NewForConfig(cluster.Config))
	serving := must(servingclientset.NewForConfig(cluster.Config))

	cluster.EnsureNamespace(r, namespace)
	_, err := cluster.Client.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "harbor-secret"},
		StringData: registry.SecretData(),
	}, metav1.CreateOptions{})
	check(err)
	_, err = connectors.ConnectorV1alpha1().Connectors(namespace).Create(ctx, &v1alpha1.Connector{
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
	}, metav1.CreateOptions{})
	check(err)
	log.Printf("applied Connector %s/%s for %s", namespace, name, reg.URL)

	// No Knative Serving runs here: once the proxy Service exists, mark it
	// Ready as Knative's controller would, and say so.
	last := ""
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		c, err := connectors.ConnectorV1alpha1().Connectors(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if now := conditions(c); now != last {
			log.Printf("Connector %s/%s: %s", namespace, name, now)
			last = now
		}
		if c.Status.IsReady() {
			return true, nil
		}
		ksvc, err := serving.ServingV1().Services(namespace).Get(ctx, "c-"+name, metav1.GetOptions{})
		if err == nil && ksvc.Status.GetCondition(apis.ConditionReady) == nil {
			log.Printf("proxy Service %s exists (image %s); standing in for Knative Serving, marking it Ready", ksvc.Name, ksvc.Spec.Template.Spec.Containers[0].Image)
			if err := controlplane.MarkServiceReady(ctx, serving, ksvc); err != nil {
				log.Printf("%v; trying again", err)
			}
		}
		return false, nil
	})
	if err != nil {
		r.Fatalf("the Connector did not become Ready within a minute; last: %s", last)
	}
	c, err := connectors.ConnectorV1alpha1().Connectors(namespace).Get(ctx, name, metav1.GetOptions{})
	check(err)
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

	cluster.BindClusterRole(r, namespace, "app", "oci-connector-puller", namespace)
	token := cluster.Token(r, namespace, "app", v1alpha1.DefaultAudience, time.Hour)
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

func conditions(c *v1alpha1.Connector) string {
	var parts []string
	for _, cond := range c.Status.Conditions {
		s := fmt.Sprintf("%s=%s", cond.Type, cond.Status)
		if cond.Reason != "" {
			s += "(" + cond.Reason + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// fail stops everything: through the runner, so etcd and kube-apiserver go too.
var fail func(format string, args ...any)

func must[T any](v T, err error) T {
	check(err)
	return v
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}
