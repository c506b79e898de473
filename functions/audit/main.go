// Command audit is oci-connector's audit trail, a Knative Service: it stores
// every CloudEvent it receives once, keyed by (source, id), in PostgreSQL
// (DATABASE_URL) or an embedded SQLite file, answers queries about them in
// JSON, shows them on a page, and forgets them after the retention period.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/serve"
)

// tokenTTL is how long a sender's or reader's identity and a reader's
// access are kept.
const tokenTTL = 10 * time.Second

type config struct {
	listen            string
	kubeconfig        string
	systemNamespace   string
	databaseURL       string
	sqlitePath        string
	retention         time.Duration
	retentionInterval time.Duration
}

// environment is what Knative and config/600-audit.yaml set; flags override it.
type environment struct {
	Port            string        `envconfig:"PORT" default:"8080"`
	DatabaseURL     string        `envconfig:"DATABASE_URL"`
	SQLitePath      string        `envconfig:"SQLITE_PATH" default:"audit.db"`
	Kubeconfig      string        `envconfig:"KUBECONFIG"`
	SystemNamespace string        `envconfig:"SYSTEM_NAMESPACE"`
	Retention       time.Duration `envconfig:"RETENTION" default:"2160h"`
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
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":"+env.Port, "address to serve on ($PORT sets the port)")
	fs.StringVar(&c.databaseURL, "database-url", env.DatabaseURL, "PostgreSQL URL ($DATABASE_URL); SQLite when empty")
	fs.StringVar(&c.sqlitePath, "sqlite", env.SQLitePath, "SQLite file when there is no database URL ($SQLITE_PATH)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", env.Kubeconfig, "kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&c.systemNamespace, "system-namespace", env.SystemNamespace,
		"the install namespace, whose senders (the controller, tokenrefresh) may record events about any Connector ($SYSTEM_NAMESPACE)")
	fs.DurationVar(&c.retention, "retention", env.Retention, "how long events are kept ($RETENTION, default 2160h: 90 days)")
	fs.DurationVar(&c.retentionInterval, "retention-interval", time.Hour, "how often old events are deleted")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.retention <= 0 {
		return c, fmt.Errorf("retention %v: want a positive duration such as 2160h", c.retention)
	}
	return c, nil
}

func main() {
	serve.Main("Audit", run)
}

func run(ctx context.Context, logger *zap.SugaredLogger) error {
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	kube, err := reviews.FromKubeconfig(c.kubeconfig)
	if err != nil {
		return err
	}
	// Senders and readers log in alike, checked locally first; readers,
	// who are people too, may bring a token of another issuer.
	keys := identity.NewKeys(kube.Get)
	senders := identity.NewAuthenticator(identity.NewVerifier(keys), kube.TokenReviews(), identity.WithTTL(tokenTTL))
	readers := &readerAuth{
		authn:    identity.NewAuthenticator(identity.NewVerifier(keys), kube.TokenReviews(), identity.WithTTL(tokenTTL), identity.WithForeignIssuers()),
		authz:    identity.NewAuthorizer(kube.SubjectAccessReviews(), tokenTTL, tokenTTL),
		sessions: newSessions(),
	}
	st, err := openStore(ctx, c.databaseURL, c.sqlitePath)
	if err != nil {
		return err
	}
	defer st.Close()
	go enforceRetention(ctx, st, c.retention, c.retentionInterval, logger)
	s := &server{store: st, writes: newBatcher(ctx, st), senders: newSenderAuth(senders, c.systemNamespace), readers: readers,
		logger: logger, now: time.Now}
	srv := &http.Server{
		Handler: s.routes(),
		// A sender or reader that trickles its request holds a connection
		// for no longer than these.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	backend := "sqlite:" + c.sqlitePath
	if c.databaseURL != "" {
		backend = "postgres"
	} else if s.ephemeral = ephemeralStore(c.sqlitePath); s.ephemeral != "" {
		logger.Warnw("THE AUDIT TRAIL IS EPHEMERAL: its SQLite file is on "+s.ephemeral+" and is lost when this pod goes; name a PostgreSQL database (DATABASE_URL) or mount a PersistentVolumeClaim (config/600-audit.yaml)",
			"sqlite", c.sqlitePath)
	}
	return serve.HTTP(ctx, logger, srv, c.listen, 10*time.Second, "store", backend, "retention", c.retention)
}

// enforceRetention deletes events older than retention, now and then every
// interval.
func enforceRetention(ctx context.Context, st *store, retention, interval time.Duration, logger *zap.SugaredLogger) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		n, err := st.deleteBefore(ctx, time.Now().Add(-retention))
		if err != nil {
			logger.Errorw("Retention", zap.Error(err))
		} else if n > 0 {
			logger.Infow("Deleted events past retention", "count", n, "retention", retention)
		}
	}, interval)
}
