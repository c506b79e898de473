// Command cluster is `make cluster`: a private cluster with Knative
// Serving, Traefik and oci-connector installed as users install it (ko),
// left running in a network namespace of its own until interrupted. It
// prints how to reach it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
)

func main() {
	once := flag.Bool("once", false, "stop once the cluster is up (a check that it comes up)")
	flag.Parse()
	if code := cluster.RunInNetns(); code >= 0 {
		os.Exit(code)
	}
	r := &harness.Runner{}
	c := cluster.Start(r)
	c.Install(r)
	fmt.Printf(`
The cluster is up in the network namespace %[1]s.
  kubectl:  ip netns exec %[1]s %[2]s --kubeconfig %[3]s get ksvc -A
Stop it with Ctrl-C; everything in the namespace goes with it.
`, cluster.Netns(), harness.Bin(r, "kubectl"), c.Kube.Kubeconfig)
	if !*once {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	}
	r.Close()
}
