// Package reviews asks the API server the two questions the request-serving
// functions ask: TokenReview (who is this?) and SubjectAccessReview (may they?).
//
// It is client-go's REST client over a scheme of just those two groups. The
// generated clientset registers every API group at start-up, which cost each
// replica of the proxy about 18 MiB of resident memory for APIs it never
// calls. The interfaces have the typed clients' method sets, so a clientset
// (or its fake, in tests) serves them as well.
package reviews

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/oci-connector/oci-connector/pkg/kubeconfig"
)

// TokenReviews creates TokenReviews.
type TokenReviews interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// SubjectAccessReviews creates SubjectAccessReviews.
type SubjectAccessReviews interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// Client asks both.
type Client struct {
	rest   rest.Interface
	params runtime.ParameterCodec
}

// Client-side rate limits of a Client whose config sets none. Every new
// client token costs a TokenReview and a SubjectAccessReview (the review's
// user carries the token's credential ID, so answers are per token):
// client-go's default of 5 a second made each new client of a busy proxy
// wait 400 ms. identity.Authenticator bounds TokenReviews itself.
const (
	DefaultQPS   = 100
	DefaultBurst = 200
)

// New makes a Client for the API server cfg names, with cfg's credentials
// and rate limits (DefaultQPS and DefaultBurst when it sets none).
func New(cfg *rest.Config) (*Client, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{authenticationv1.AddToScheme, authorizationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	}
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &authenticationv1.SchemeGroupVersion // each request names its own path
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return &Client{rest: c, params: runtime.NewParameterCodec(scheme)}, nil
}

// FromKubeconfig connects as the kubeconfig at path says (in-cluster when
// empty).
func FromKubeconfig(path string) (*Client, error) {
	cfg, err := kubeconfig.Load(path)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// TokenReviews returns the TokenReview API.
func (c *Client) TokenReviews() TokenReviews { return tokenReviews{c} }

// SubjectAccessReviews returns the SubjectAccessReview API.
func (c *Client) SubjectAccessReviews() SubjectAccessReviews { return subjectAccessReviews{c} }

type tokenReviews struct{ c *Client }

func (t tokenReviews) Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	out := &authenticationv1.TokenReview{}
	return out, t.c.create(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", review, &opts, out)
}

type subjectAccessReviews struct{ c *Client }

func (s subjectAccessReviews) Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	out := &authorizationv1.SubjectAccessReview{}
	return out, s.c.create(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", review, &opts, out)
}

// Get reads path of the API server as it is: the ServiceAccount issuer's
// discovery document and keys (identity.NewKeys reads them through it).
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	return c.rest.Get().AbsPath(path).DoRaw(ctx)
}

// create POSTs in to path and decodes the answer into out; API errors come
// back as client-go's (apierrors.IsForbidden and the like work on them).
func (c *Client) create(ctx context.Context, path string, in runtime.Object, opts *metav1.CreateOptions, out runtime.Object) error {
	return c.rest.Post().AbsPath(path).VersionedParams(opts, c.params).Body(in).Do(ctx).Into(out)
}
