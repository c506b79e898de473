// Command cluster is `make cluster`: a private cluster with Knative
// Serving, Traefik and oci-connector installed as users install it (ko),
// and a Connector in front of a private registry, left running in a
// network namespace of its own until interrupted. It prints how to reach
// it and pulls through the Connector's Knative URL once.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
)

const namespace, name = "platform", "harbor"

func main() {
	once := flag.Bool("once", false, "stop once the Connector has served a pull (a check that everything comes up)")
	flag.Parse()
	if code := cluster.RunInNetns(); code >= 0 {
		os.Exit(code)
	}
	r := &harness.Runner{}
	c := cluster.Start(r, cluster.Options{})
	c.Install(r)

	upstream := registry.NewHtpasswd(r, registry.WithListenIP(cluster.NodeIP))
	c.Kube.EnsureServiceAccount(r, namespace, "app")
	c.Kube.BindClusterRole(r, namespace, "app", connector.PullerClusterRole, namespace)
	conn := c.ReadyConnector(r, cluster.BasicConnector(namespace, name, upstream.URL), registry.SecretData())
	image := conn.Status.URL.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
	tokenFile := filepath.Join(r.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(c.Kube.Token(r, namespace, "app", conn.Status.Audience, time.Hour)), 0o600); err != nil {
		r.Fatalf("%v", err)
	}
	crane := harness.Bin(r, "crane")
	// crane's login goes to a config of its own, not the machine's.
	dockerConfig := r.TempDir()
	start := time.Now()
	login := exec.Command("sh", "-c", fmt.Sprintf(`%s auth login %s -u u -p "$(cat %s)" --insecure >/dev/null && %s digest --insecure %s`,
		crane, conn.Status.URL.Host, tokenFile, crane, image))
	login.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	out, err := login.CombinedOutput()
	if err != nil {
		r.Fatalf("pulling %s through the Connector: %v\n%s", image, err, out)
	}
	fmt.Printf(`
The cluster is up in the network namespace %[1]s, with Knative Serving,
Traefik and oci-connector. The Connector %[2]s/%[3]s is Ready at %[4]s,
its Knative Service's URL; crane read %[5]s through it in %[6]s: %[7]s
  kubectl:  ip netns exec %[1]s %[8]s --kubeconfig %[9]s get ksvc,connectors -A
  pull:     DOCKER_CONFIG=%[13]s ip netns exec %[1]s sh -c '%[10]s auth login %[11]s -u u -p "$(cat %[12]s)" --insecure && %[10]s manifest --insecure %[5]s'
The token in %[12]s is the ServiceAccount %[2]s/app's, for the Connector's audience, valid an hour.
Stop it with Ctrl-C; everything in the namespace goes with it.
`, cluster.Netns(), namespace, name, conn.Status.URL, image, time.Since(start).Round(time.Millisecond), out,
		harness.Bin(r, "kubectl"), c.Kube.Kubeconfig, crane, conn.Status.URL.Host, tokenFile, dockerConfig)
	if !*once {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	}
	r.Close()
}
