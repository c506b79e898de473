package main

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/oci-connector/oci-connector/pkg/access"
	apiconfig "github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/pkg/pullsecrets"
)

// minter decides whether a vouched-for pod may have files for a Connector,
// and makes them: with a token of the pod's own ServiceAccount, for the
// Connector's audience, bound to the pod, so it dies with the pod.
type minter struct {
	kube       kubernetes.Interface
	connectors connectorlisters.ConnectorLister
	config     *apiconfig.Store
	// systemNamespace is the install's: no tokens are minted there.
	systemNamespace string
	reviewer        *access.Reviewer
	clock           clock.PassiveClock
	tokenTTL        time.Duration
	// caPEM is the CA of the proxies' TLS endpoints; empty when they use
	// public roots or plain HTTP.
	caPEM []byte
}

// rendered is what a volume holds, and when it must be rendered again.
type rendered struct {
	files   map[string][]byte
	expires time.Time
	renewAt time.Time
}

// renewAtFraction of a token's life has passed when the files are rendered
// again, so a client never holds a token in its last fifth.
const renewAtFraction = 0.8

func (m *minter) render(ctx context.Context, v volumeRequest) (*rendered, error) {
	c, err := m.connectors.Connectors(v.Connector.Namespace).Get(v.Connector.Name)
	if apierrors.IsNotFound(err) {
		return nil, refusef(codes.NotFound, "connector %s not found", v.Connector)
	}
	if err != nil {
		return nil, err
	}
	if !c.Status.IsReady() {
		return nil, refusef(codes.FailedPrecondition, "connector %s is not Ready", v.Connector)
	}
	if !m.config.Load().Tenancy.MayServe(c.Namespace, v.Pod.Namespace) {
		return nil, refusef(codes.PermissionDenied, "connector %s serves only its own namespace, not %s: use a Connector in %s, or a cluster Connector", v.Connector, v.Pod.Namespace, v.Pod.Namespace)
	}
	if !apiconfig.MayMintIn(v.Pod.Namespace, m.systemNamespace) {
		return nil, refusef(codes.PermissionDenied, "no tokens are minted for pods in %s", v.Pod.Namespace)
	}
	sa := access.ServiceAccount(v.Pod.Namespace, v.Pod.ServiceAccount)
	allowed, _, err := m.reviewer.Allowed(ctx, sa, v.Connector, v1alpha1.VerbPull)
	if err != nil {
		return nil, refusef(codes.Unavailable, "%v", err)
	}
	if !allowed {
		return nil, refusef(codes.PermissionDenied, "ServiceAccount %s/%s may not pull through connector %s; grant it with: %s",
			v.Pod.Namespace, v.Pod.ServiceAccount, v.Connector, access.GrantPull(v.Pod.Namespace, v.Pod.ServiceAccount, v.Connector))
	}

	p := clientconfig.Proxy{Endpoints: clientconfig.Endpoints(c)}
	files := map[string][]byte{}
	if len(m.caPEM) > 0 && hasTLS(p.Endpoints) {
		if v.MountPath == "" {
			return nil, refusef(codes.InvalidArgument, "connector %s's proxy uses TLS with a private CA: set volumeAttributes.%s to where the pod mounts this volume, so the files can name %s", v.Connector, attrMountPath, clientconfig.CAFile)
		}
		p.CAFile = v.MountPath + "/" + clientconfig.CAFile
		files[clientconfig.CAFile] = m.caPEM
	}

	// The Connector's audience, as tokenrefresh mints, bound to the pod.
	token, expires, err := pullsecrets.Mint(ctx, m.kube.CoreV1().ServiceAccounts(v.Pod.Namespace), v.Pod.ServiceAccount, c, m.tokenTTL,
		&authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: v.Pod.Name, UID: v.Pod.UID})
	if err != nil {
		return nil, refusef(codes.Unavailable, "minting a token for ServiceAccount %s/%s: %v", v.Pod.Namespace, v.Pod.ServiceAccount, err)
	}
	p.Token = token
	configs, err := clientconfig.Render(v.Configurations, p)
	if err != nil {
		return nil, refusef(codes.FailedPrecondition, "connector %s: %v", v.Connector, err)
	}
	for name, b := range configs {
		files[name] = b
	}
	issued := m.clock.Now()
	return &rendered{
		files:   files,
		expires: expires,
		renewAt: issued.Add(time.Duration(float64(expires.Sub(issued)) * renewAtFraction)),
	}, nil
}

func hasTLS(endpoints []clientconfig.Endpoint) bool {
	for _, e := range endpoints {
		if !e.PlainHTTP {
			return true
		}
	}
	return false
}
