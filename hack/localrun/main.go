// Command localrun is `make run`: it starts a real kube-apiserver and etcd, an
// upstream registry and the oci-connector controller on 127.0.0.1, applies a
// Connector with its Secret, and shows the Connector's conditions as they
// change until it is Ready. Then it keeps everything running for kubectl
// until interrupted (or exits, with -once).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
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
	log.Print("starting the oci-connector controller")
	controlplane.Start(r, cluster.Config, controlplane.Options{})

	ctx := context.Background()
	connectors := must(connectorclientset.NewForConfig(cluster.Config))
	serving := must(servingclientset.NewForConfig(cluster.Config))

	cluster.EnsureNamespace(r, namespace)
	_, err := cluster.Client.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "harbor-secret"},
		StringData: map[string]string{"username": registry.Username, "password": registry.Password},
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
			ksvc.Status.ObservedGeneration = ksvc.Generation
			ksvc.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionReady, Status: corev1.ConditionTrue, LastTransitionTime: apis.VolatileTime{Inner: metav1.Now()}}}
			ksvc.Status.URL = apis.HTTP(ksvc.Name + "." + namespace + ".example.com")
			ksvc.Status.Address = &duckv1.Addressable{URL: apis.HTTP(ksvc.Name + "." + namespace + ".svc.cluster.local")}
			_, _ = serving.ServingV1().Services(namespace).UpdateStatus(ctx, ksvc, metav1.UpdateOptions{})
		}
		return false, nil
	})
	if err != nil {
		r.Fatalf("the Connector did not become Ready within a minute; last: %s", last)
	}
	c, err := connectors.ConnectorV1alpha1().Connectors(namespace).Get(ctx, name, metav1.GetOptions{})
	check(err)
	log.Printf("Connector %s/%s is Ready: url %s, in-cluster address %s", namespace, name, c.Status.URL, c.Status.Address.URL)

	if *once {
		return
	}
	fmt.Printf("\nThe cluster keeps running. In another shell:\n  export KUBECONFIG=%s\n  %s get conn -A\n\nCtrl-C stops everything.\n", cluster.Kubeconfig, harness.Bin(r, "kubectl"))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	log.Print("stopping")
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
