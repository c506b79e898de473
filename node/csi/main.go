// Command csi is oci-connector's CSI driver, csi.oci-connector.dev. A pod
// mounts an inline ephemeral volume naming a Connector and the client
// configurations it wants (config.json, buildkitd.toml, auth.json,
// registries.conf, containerd hosts.toml); the driver writes them with a
// token of the pod's own ServiceAccount for the Connector's audience,
// bound to the pod, and renders them again before the token expires. No
// registry credential reaches the pod.
//
// The driver mints only for a pod the kubelet vouches for (vouch.go) and
// whose ServiceAccount may pull through the Connector (mint.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"k8s.io/utils/clock"
	cminformer "knative.dev/pkg/configmap/informer"

	"github.com/oci-connector/oci-connector/pkg/access"
	apiconfig "github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorinformers "github.com/oci-connector/oci-connector/pkg/client/informers/externalversions"
	"github.com/oci-connector/oci-connector/pkg/clientsets"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/serve"
)

type config struct {
	endpoint        string
	nodeName        string
	stateDir        string
	kubeconfig      string
	systemNamespace string
	tokenTTL        time.Duration
	proxyCAFile     string
	registrationDir string
	kubeletEndpoint string
}

// minTokenTTL is the shortest lifetime TokenRequest grants.
const minTokenTTL = 10 * time.Minute

// environment is what config/700-csi-driver.yaml sets; flags override it.
type environment struct {
	Endpoint        string `envconfig:"CSI_ENDPOINT" default:"unix:///csi/csi.sock"`
	NodeName        string `envconfig:"NODE_NAME"`
	Kubeconfig      string `envconfig:"KUBECONFIG"`
	SystemNamespace string `envconfig:"SYSTEM_NAMESPACE"`
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
	fs := flag.NewFlagSet("csi", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", env.Endpoint, "the CSI socket to serve on ($CSI_ENDPOINT)")
	fs.StringVar(&c.nodeName, "node-name", env.NodeName, "this node's name; pods of other nodes are refused ($NODE_NAME)")
	fs.StringVar(&c.stateDir, "state-dir", "/var/lib/kubelet/plugins/"+driverName, "where the volumes' tmpfs mounts live")
	fs.StringVar(&c.kubeconfig, "kubeconfig", env.Kubeconfig, "kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&c.systemNamespace, "system-namespace", env.SystemNamespace, "the namespace of config-oci-connector ($SYSTEM_NAMESPACE)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", time.Hour, "lifetime of the tokens in the files; they are rendered again at 80% of it")
	fs.StringVar(&c.proxyCAFile, "proxy-ca-file", "", "the CA of proxies served over TLS with a private CA, written into volumes as ca.crt")
	fs.StringVar(&c.registrationDir, "kubelet-registration-dir", "", "register with the kubelet's plugin watcher in this directory (e.g. /var/lib/kubelet/plugins_registry), as the node-driver-registrar sidecar would")
	fs.StringVar(&c.kubeletEndpoint, "kubelet-endpoint", "", "the CSI socket's path as the kubelet sees it, for --kubelet-registration-dir (default: --endpoint's path)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.nodeName == "":
		return c, errors.New("--node-name (or $NODE_NAME) is required")
	case c.tokenTTL < minTokenTTL:
		return c, fmt.Errorf("--token-ttl %v is below TokenRequest's minimum of %v", c.tokenTTL, minTokenTTL)
	}
	if c.kubeletEndpoint == "" {
		c.kubeletEndpoint = socketPath(c.endpoint)
	}
	return c, nil
}

// socketPath reads unix:///path or a bare path.
func socketPath(endpoint string) string {
	return "/" + strings.TrimLeft(strings.TrimPrefix(endpoint, "unix://"), "/")
}

func main() {
	serve.Main("csi", run)
}

func run(ctx context.Context, logger *zap.SugaredLogger) error {
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	node, err := newNodeServer(ctx, c, logger)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, identityServer{})
	csi.RegisterNodeServer(srv, node)
	servers := []*grpc.Server{srv}
	errc := make(chan error, 2)
	if err := listenUnix(c.endpoint, srv, errc); err != nil {
		return err
	}
	logger.Infow("Serving", "endpoint", c.endpoint, "node", c.nodeName)
	if c.registrationDir != "" {
		reg := grpc.NewServer()
		registerapi.RegisterRegistrationServer(reg, &registrationServer{endpoint: c.kubeletEndpoint, logger: logger})
		regSocket := filepath.Join(c.registrationDir, driverName+"-reg.sock")
		if err := listenUnix(regSocket, reg, errc); err != nil {
			return err
		}
		servers = append(servers, reg)
		logger.Infow("Registering with the kubelet", "socket", regSocket)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	for _, s := range servers {
		s.GracefulStop()
	}
	return nil
}

// listenUnix serves srv on a unix socket, replacing a stale one.
func listenUnix(endpoint string, srv *grpc.Server, errc chan<- error) error {
	path := socketPath(endpoint)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() { errc <- srv.Serve(l) }()
	return nil
}

// newNodeServer connects to the API server and waits for the Connector
// lister and the trust config, so the first publish already finds them.
func newNodeServer(ctx context.Context, c config, logger *zap.SugaredLogger) (*nodeServer, error) {
	// A publish makes three or four calls; the kubelet's own limits (50, in
	// bursts of 100) keep a node's driver in step with the node.
	kube, connectors, err := clientsets.New(c.kubeconfig, 50, 100)
	if err != nil {
		return nil, err
	}
	var caPEM []byte
	if c.proxyCAFile != "" {
		if caPEM, err = os.ReadFile(c.proxyCAFile); err != nil {
			return nil, err
		}
	}

	factory := connectorinformers.NewSharedInformerFactory(connectors, 10*time.Hour)
	lister := factory.Connector().V1alpha1().Connectors().Lister()
	factory.Start(ctx.Done())
	cmw := cminformer.NewInformedWatcher(kube, c.systemNamespace)
	configStore := apiconfig.StoreFor(cmw, logger)
	if err := cmw.Start(ctx.Done()); err != nil {
		return nil, fmt.Errorf("watching %s/%s: %w", c.systemNamespace, apiconfig.ConfigName, err)
	}
	for typ, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			return nil, fmt.Errorf("the %v informer did not sync", typ)
		}
	}

	clk := clock.RealClock{}
	return &nodeServer{
		nodeName: c.nodeName,
		stateDir: c.stateDir,
		voucher: &voucher{kube: kube, nodeName: c.nodeName, audience: v1alpha1.CSIAudience,
			authn: identity.NewAuthenticator(identity.NewVerifier(identity.NewKeys(identity.RESTGetter(kube.CoreV1().RESTClient()))), kube.AuthenticationV1().TokenReviews())},
		minter:    &minter{kube: kube, connectors: lister, config: configStore, systemNamespace: c.systemNamespace, reviewer: access.NewReviewer(kube.AuthorizationV1().SubjectAccessReviews()), clock: clk, tokenTTL: c.tokenTTL, caPEM: caPEM},
		clock:     clk,
		logger:    logger,
		published: map[string]*publishedVolume{},
	}, nil
}
