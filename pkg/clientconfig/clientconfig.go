// Package clientconfig renders what registry clients read to reach a
// Connector's proxy with a ServiceAccount token: Docker's config.json (also
// the pull secrets' .dockerconfigjson), the auth.json and registries.conf of
// podman, buildah and skopeo, buildkitd.toml, and containerd's hosts.toml.
// The functions are plain: the CSI driver and tokenrefresh call them, and
// golden files pin what they write.
package clientconfig

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// Username is what clients send with the token; the proxy reads only the
// password.
const Username = "oci-connector"

// Endpoint is one name a client reaches the proxy by.
type Endpoint struct {
	// Host is host[:port], as it appears in image references.
	Host string
	// PlainHTTP says the proxy answers plain HTTP there, not TLS.
	PlainHTTP bool
}

// Proxy is what the files say: where the proxy is, and how to log in.
type Proxy struct {
	Endpoints []Endpoint
	// Token is the ServiceAccount token clients send as the password.
	Token string
	// CAFile is where, in the client's filesystem, the CA of the TLS
	// endpoints is; empty means the client's own roots.
	CAFile string
}

// Endpoints are the names a Connector's proxy is reached by: the external
// URL's host first (what nodes and rewritten images use), then the
// cluster-local address's.
func Endpoints(c *v1alpha1.Connector) []Endpoint {
	var out []Endpoint
	add := func(u *url.URL) {
		if u == nil || u.Host == "" {
			return
		}
		for _, e := range out {
			if e.Host == u.Host {
				return
			}
		}
		out = append(out, Endpoint{Host: u.Host, PlainHTTP: u.Scheme == "http"})
	}
	if c.Status.URL != nil {
		add(c.Status.URL.URL())
	}
	if c.Status.Address != nil && c.Status.Address.URL != nil {
		add(c.Status.Address.URL.URL())
	}
	return out
}

// validate refuses what would break out of the quoted strings and paths
// the files are made of. Hosts come from a Connector's status and the CA
// path from a pod's volume attributes.
func (p Proxy) validate() error {
	if len(p.Endpoints) == 0 {
		return fmt.Errorf("the proxy has no address yet")
	}
	for _, e := range p.Endpoints {
		if e.Host == "" || strings.ContainsAny(e.Host, "\"\\/ \t\r\n[]") {
			return fmt.Errorf("proxy host %q is not a host[:port]", e.Host)
		}
	}
	if p.CAFile != "" && (!strings.HasPrefix(p.CAFile, "/") || strings.ContainsAny(p.CAFile, "\"\\\r\n\t")) {
		return fmt.Errorf("CA file %q is not an absolute path", p.CAFile)
	}
	return nil
}
