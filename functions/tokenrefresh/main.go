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
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
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
	zl, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logger := zl.Sugar()
	defer func() { _ = logger.Sync() }()
	if err := run(logger); err != nil {
		logger.Fatalw("tokenrefresh failed", zap.Error(err))
	}
}

func run(logger *zap.SugaredLogger) error {
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := restConfig(c.kubeconfig)
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

	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: w.routes(), ReadHeaderTimeout: 10 * time.Second}
	logger.Infow("Serving", "address", l.Addr().String(), "sweep", c.sweep)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}
