// Command tokenrefresh keeps pull secrets for the ServiceAccounts a
// Connector names, so that the kubelet can pull through its proxy with no
// registry password anywhere: each secret holds a short-lived token of its
// own ServiceAccount, minted with TokenRequest and renewed before it expires.
//
// It is a function of the pullsecrets.refresh CloudEvent: for the Connector
// the event names, it reads the current state from the API server and brings
// the pull secrets in line, within the request. The controller decides when
// (see reconcilers/connector/pullsecrets.go); tokenrefresh keeps no
// informers, queue or schedule, so it can scale to zero.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/clientsets"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/serve"
)

type config struct {
	listen          string
	kubeconfig      string
	systemNamespace string
	auditTokenFile  string
	auditURL        string
	// controller is the ServiceAccount (namespace/name) whose requests are
	// served.
	controller string
}

// environment is what Knative and config/600-tokenrefresh.yaml set; flags
// override it.
type environment struct {
	Port            string `envconfig:"PORT" default:"8080"`
	Kubeconfig      string `envconfig:"KUBECONFIG"`
	SystemNamespace string `envconfig:"SYSTEM_NAMESPACE"`
	AuditTokenFile  string `envconfig:"AUDIT_TOKEN_FILE"`
	AuditURL        string `envconfig:"AUDIT_URL"`
}

func parseConfig(args []string) (config, error) {
	var env environment
	if err := envconfig.Process("", &env); err != nil {
		return config{}, err
	}
	if env.SystemNamespace == "" {
		env.SystemNamespace = connectorapi.SystemNamespace
	}
	var c config
	fs := flag.NewFlagSet("tokenrefresh", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":"+env.Port, "address to serve on ($PORT sets the port)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", env.Kubeconfig, "kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&c.systemNamespace, "system-namespace", env.SystemNamespace, "the namespace of config-oci-connector ($SYSTEM_NAMESPACE)")
	fs.StringVar(&c.auditTokenFile, "audit-token-file", env.AuditTokenFile, "a ServiceAccount token for the audit audience, presented with events sent to --audit-url ($AUDIT_TOKEN_FILE)")
	fs.StringVar(&c.auditURL, "audit-url", env.AuditURL, "the audit function's address: the only sink that gets --audit-token-file ($AUDIT_URL; http://audit.<system namespace>.svc.cluster.local when unset)")
	fs.StringVar(&c.controller, "controller-service-account", "", "namespace/name of the ServiceAccount whose requests are served (<system namespace>/"+connectorapi.ControllerServiceAccount+" when empty)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.auditURL == "" {
		c.auditURL = "http://audit." + c.systemNamespace + ".svc.cluster.local"
	}
	if c.controller == "" {
		c.controller = c.systemNamespace + "/" + connectorapi.ControllerServiceAccount
	}
	if ns, name, ok := strings.Cut(c.controller, "/"); !ok || ns == "" || name == "" {
		return c, fmt.Errorf("--controller-service-account %q: want namespace/name", c.controller)
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
	h, err := newHandler(ctx, c, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	return serve.HTTP(ctx, logger, srv, c.listen, 10*time.Second)
}

// newHandler connects to the API server as c.kubeconfig says (in-cluster
// when empty).
func newHandler(ctx context.Context, c config, logger *zap.SugaredLogger) (*handler, error) {
	// A refresh makes a few calls per ServiceAccount.
	kube, connectors, err := clientsets.New(c.kubeconfig, 100, 200)
	if err != nil {
		return nil, err
	}
	authn := identity.NewAuthenticator(identity.NewVerifier(identity.NewKeys(identity.RESTGetter(kube.CoreV1().RESTClient()))), kube.AuthenticationV1().TokenReviews())
	ns, name, _ := strings.Cut(c.controller, "/")
	return &handler{
		callers:   &callerAuth{authn: authn, logger: logger, controller: access.ServiceAccount(ns, name).Username},
		refreshes: newCoalescer(),
		refresher: &refresher{kube: kube, connectors: connectors, reviewer: access.NewUncachedReviewer(kube.AuthorizationV1().SubjectAccessReviews()), logger: logger, clock: clock.RealClock{},
			systemNamespace: c.systemNamespace},
		senders: events.NewSenders(ctx, events.SenderOptions{Logger: logger, Credentials: []events.Credential{{URL: c.auditURL, TokenFile: c.auditTokenFile}}}),
		logger:  logger,
	}, nil
}
