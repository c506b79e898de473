// Command proxy is the registry proxy of one Connector. Knative runs it with
// its settings in the environment (see pkg/proxyenv); it also runs as a plain
// process with flags, on a CI runner or in tests.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
	knativemetrics "knative.dev/pkg/observability/metrics"

	"github.com/kelseyhightower/envconfig"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/imageref"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/serve"
)

// config is every setting of the proxy.
type config struct {
	listen             string
	upstream           string
	credentialsDir     string
	upstreamCAFile     string
	insecureSkipVerify bool
	blobRedirects      string
	profilingAddress   string
	namespace, name    string
	audience           string
	acceptAPIServer    bool
	kubeconfig         string
	repository         string
	repositories       string
	shutdownGrace      time.Duration
	sink               string
	auditTokenFile     string
	auditURL           string
	forwardedHops      int
	writeTokenAge      time.Duration
	metrics            knativemetrics.Config
	cache              cacheConfig
}

func parseConfig(args []string) (config, error) {
	var env proxyenv.Environment
	if err := envconfig.Process("", &env); err != nil {
		return config{}, err
	}
	var c config
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":"+env.Port, "address to serve on ($PORT sets the port)")
	fs.StringVar(&c.upstream, "upstream", env.UpstreamAddress, "upstream registry URL")
	fs.StringVar(&c.credentialsDir, "credentials-dir", env.CredentialsDir, "directory of the mounted upstream Secret")
	fs.StringVar(&c.upstreamCAFile, "upstream-ca-file", env.UpstreamCAFile, "PEM bundle to trust for the upstream, beside the system roots")
	fs.StringVar(&c.blobRedirects, "blob-redirects", env.BlobRedirects, "follow: fetch blobs the upstream redirects to storage; pass: hand those redirects to the client ($BLOB_REDIRECTS)")
	fs.BoolVar(&c.insecureSkipVerify, "upstream-insecure-skip-verify", env.UpstreamInsecureSkipVerify, "do not verify the upstream's certificate")
	fs.StringVar(&c.namespace, "namespace", env.ConnectorNamespace, "the Connector's namespace")
	fs.StringVar(&c.name, "name", env.ConnectorName, "the Connector's name")
	fs.StringVar(&c.audience, "audience", env.Audience, "the token audiences to accept, comma-separated; the Connector's own (oci-connector.dev/<namespace>/<name>) when empty")
	fs.BoolVar(&c.acceptAPIServer, "accept-api-server-tokens", env.AcceptAPIServerTokens, "also accept tokens for the API server's own audience")
	fs.StringVar(&c.kubeconfig, "kubeconfig", env.Kubeconfig, "kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&c.repository, "repository", env.Repository, "repository glob the connector is scoped to")
	fs.StringVar(&c.repositories, "repositories", env.Repositories, "spec.repositories as JSON")
	fs.StringVar(&c.sink, "sink", env.Sink, "CloudEvents sink URL ($K_SINK); no events when empty")
	fs.DurationVar(&c.writeTokenAge, "upstream-write-token-age", DefaultWriteTokenAge, "renew a scope's upstream token before a PUT or PATCH when it is older than this")
	fs.StringVar(&c.auditTokenFile, "audit-token-file", env.AuditTokenFile, "a ServiceAccount token for the audit audience, presented with events sent to --audit-url ($AUDIT_TOKEN_FILE)")
	fs.StringVar(&c.auditURL, "audit-url", env.AuditURL, "the audit function's address: the only sink that gets --audit-token-file ($AUDIT_URL)")
	fs.IntVar(&c.forwardedHops, "forwarded-hops", env.ForwardedHops, "how many proxies in front of this one append to X-Forwarded-For and are trusted; 0 names clients by their own address ($FORWARDED_HOPS)")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 5*time.Minute, "how long transfers in flight may finish on shutdown")
	fs.StringVar(&c.metrics.Protocol, "metrics-protocol", env.MetricsProtocol, "OpenTelemetry metrics export: none, prometheus, grpc or http/protobuf")
	fs.StringVar(&c.profilingAddress, "profiling-address", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:8008; off when empty")
	fs.StringVar(&c.metrics.Endpoint, "metrics-endpoint", env.MetricsEndpoint, "the exporter's endpoint (host:port to serve Prometheus on)")
	c.cache.flags(fs, env)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.forwardedHops < 0 {
		return c, fmt.Errorf("--forwarded-hops %d: want the number of proxies in front of this one (0 for none)", c.forwardedHops)
	}
	if err := c.metrics.Validate(); err != nil {
		return c, fmt.Errorf("metrics: %w", err)
	}
	var missing []string
	for flagName, v := range map[string]string{"upstream": c.upstream, "namespace": c.namespace, "name": c.name} {
		if v == "" {
			missing = append(missing, flagName)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing settings: %v", missing)
	}
	return c, nil
}

// newProxy builds the handler from a config and the API server's review APIs.
func newProxy(ctx context.Context, c config, keys identity.KeySource, tokenReviews reviews.TokenReviews, sars reviews.SubjectAccessReviews, meterProvider metric.MeterProvider, logger *zap.SugaredLogger) (*proxy, error) {
	u, err := url.Parse(c.upstream)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("upstream %q is not an http(s) URL with a host", c.upstream)
	}
	creds, err := loadMountedCredentials(c.credentialsDir, u.Host)
	if err != nil {
		return nil, err
	}
	// A ca.crt in the Secret is trusted for the upstream, beside the system
	// roots and any --upstream-ca-file.
	caPEM, err := os.ReadFile(filepath.Join(c.credentialsDir, credentials.KeyCACert))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the upstream CA from the Secret: %w", err)
	}
	if c.upstreamCAFile != "" {
		extra, err := os.ReadFile(c.upstreamCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the upstream CA: %w", err)
		}
		caPEM = append(caPEM, extra...)
	}
	redirects := connector.BlobRedirects(c.blobRedirects)
	if !redirects.Valid() {
		return nil, fmt.Errorf("--blob-redirects %q: want follow or pass", c.blobRedirects)
	}
	m, err := newProxyMetrics(meterProvider)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	up, err := newUpstream(c.upstream, creds, caPEM, c.insecureSkipVerify,
		withRotation(creds), withBlobRedirects(redirects), withWriteTokenAge(c.writeTokenAge), withObservers(logger, m))
	if err != nil {
		return nil, err
	}
	go creds.watch(ctx, logger)
	cache, err := c.cache.open(ctx, logger)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}

	s := scope{repository: c.repository}
	if c.repositories != "" {
		if err := json.Unmarshal([]byte(c.repositories), &s.repositories); err != nil {
			return nil, fmt.Errorf("repositories is not JSON: %w", err)
		}
	}
	imageHost, err := imageref.RegistryHost(c.upstream)
	if err != nil {
		return nil, err
	}
	audiences := strings.Split(c.audience, ",")
	if c.audience == "" {
		audiences = []string{connector.ConnectorAudience(c.namespace, c.name)}
	}
	authn := &authenticator{id: identity.NewAuthenticator(identity.NewVerifier(keys), tokenReviews), audiences: audiences, acceptAPIServer: c.acceptAPIServer}
	authn.lookedUp = func(ctx context.Context, hit bool) { m.cacheLookup(ctx, "token", hit) }
	authz := &authorizer{reviewer: access.NewReviewer(sars), connector: types.NamespacedName{Namespace: c.namespace, Name: c.name}}
	authz.lookedUp = func(ctx context.Context, hit bool) { m.cacheLookup(ctx, "access", hit) }
	p := &proxy{
		connector: c.namespace + "/" + c.name,
		namespace: c.namespace,
		name:      c.name,
		authn:     authn,
		authz:     authz,
		scope:     s,
		upstream:  up,
		logger:    logger,
		metrics:   m,
		imageHost: imageHost,
		limiter:   newRefusalLimiter(),
		tarpit:    newTarpit(),
		refusals:  newRefusalAggregator(),

		forwardedHops: c.forwardedHops,
	}
	if cache != nil {
		p.cache = &readCache{c: cache, upstream: up, logger: logger}
	}
	return p, nil
}

// newServer serves h with HTTP/1.1 and h2c, with the limits a public
// endpoint needs.
func newServer(h http.Handler) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// Large blobs are written to the client's connection itself (splice.go).
		ConnContext: withClientConn,
	}
}

func main() {
	serve.Main("Proxy", run)
}

func run(ctx context.Context, logger *zap.SugaredLogger) error {
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	client, err := reviews.FromKubeconfig(c.kubeconfig)
	if err != nil {
		return err
	}
	mp, err := knativemetrics.NewMeterProvider(ctx, c.metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p, err := newProxy(ctx, c, identity.NewKeys(client.Get), client.TokenReviews(), client.SubjectAccessReviews(), mp, logger.With("connector", c.namespace+"/"+c.name))
	if err != nil {
		return err
	}
	if c.profilingAddress != "" {
		go serveProfiles(ctx, logger, c.profilingAddress)
	}
	// Events outlive the server's drain: they get their own context, ended
	// after it.
	sendCtx, stopSending := context.WithCancel(context.Background())
	defer stopSending()
	var sender *events.Sender
	if c.sink != "" {
		if sender, err = events.NewSender(sendCtx, c.sink, events.SenderOptions{MeterProvider: mp, Logger: logger, Credentials: []events.Credential{{URL: c.auditURL, TokenFile: c.auditTokenFile}}}); err != nil {
			return err
		}
		p.events = sender
		go p.flushRefusalsEvery(sendCtx, refusalInterval)
	}
	// On SIGTERM: stop accepting, let transfers in flight finish.
	if err := serve.HTTP(ctx, logger, newServer(p.withReadiness()), c.listen, c.shutdownGrace,
		"upstream", c.upstream, "sink", c.sink); err != nil {
		return err
	}
	if sender != nil {
		stopSending()
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		if err := sender.Close(closeCtx); err != nil {
			logger.Warnw("Events still queued at exit were dropped", "queued", sender.Queued())
		}
	}
	return nil
}
