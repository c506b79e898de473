// Command tokenrefresh keeps pull secrets for the ServiceAccounts a
// Connector names, so that the kubelet can pull through its proxy with no
// registry password anywhere: each secret holds a short-lived token of its
// own ServiceAccount, minted with TokenRequest and renewed before it expires.
//
// It works on a CloudEvent (pullsecrets.refresh, credentials.rotated) for the
// Connector it names, on every new ServiceAccount or Namespace it sees (so a
// new ServiceAccount has its secret within seconds), and in a periodic sweep
// that renews tokens and removes what no longer matches.
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/pkg/serve"
)

type config struct {
	listen     string
	kubeconfig string
	sweep      time.Duration
}

func parseConfig(args []string) (config, error) {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	var c config
	fs := flag.NewFlagSet("tokenrefresh", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":"+port, "address to serve on ($PORT sets the port)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig; in-cluster configuration when empty")
	fs.DurationVar(&c.sweep, "sweep-interval", time.Minute, "how often every Connector's pull secrets are checked")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.sweep <= 0 {
		return c, errors.New("sweep-interval must be positive")
	}
	return c, nil
}

func main() {
	serve.Main("tokenrefresh", run)
}

func run(ctx context.Context, logger *zap.SugaredLogger) error {
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	cfg, err := serve.KubeConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	// A refresh makes a few calls per ServiceAccount; client-go's default of
	// 5 a second would make a new ServiceAccount wait for seconds.
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	connectors, err := connectorclientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	r := &refresher{kube: kube, connectors: connectors, reviewer: access.NewReviewer(kube), logger: logger, now: time.Now}
	w := newWorker(r, logger)
	go w.run(ctx)
	go w.sweepEvery(ctx, c.sweep)
	if err := w.watchNewAccounts(ctx); err != nil {
		return err
	}
	srv := &http.Server{Handler: w.routes(), ReadHeaderTimeout: 10 * time.Second}
	return serve.HTTP(ctx, logger, srv, c.listen, 10*time.Second, "sweep", c.sweep)
}
