// Package imageref points image references at a Connector's proxy: it tells
// which images come from a Connector's upstream and rewrites them to the
// proxy's host, keeping the repository path, the tag and the digest.
package imageref

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/distribution/reference"
)

// dockerHub is the registry name short image names ("nginx") stand for.
const dockerHub = "docker.io"

// dockerHubAliases are the hosts that serve Docker Hub.
var dockerHubAliases = map[string]bool{
	"docker.io":               true,
	"index.docker.io":         true,
	"registry-1.docker.io":    true,
	"registry.hub.docker.com": true,
}

// RegistryHost is the registry an address (a Connector's spec.address or
// status.url) names, as images spell it: the host with its port, the
// scheme's default port dropped, Docker Hub's hosts folded into docker.io.
func RegistryHost(address string) (string, error) {
	u, err := url.Parse(address)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", address, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", address)
	}
	host := strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		((u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80")) {
		host = h
	}
	return CanonicalHost(host), nil
}

// CanonicalHost is a registry host as image names spell it: lower case,
// and Docker Hub's hosts folded into docker.io.
func CanonicalHost(host string) string {
	host = strings.ToLower(host)
	if dockerHubAliases[host] {
		return dockerHub
	}
	return host
}

// Registry is the registry host image names, normalized as the container
// runtime would: "nginx" is docker.io's. ok is false for a reference that
// does not parse; such an image is nobody's to rewrite.
func Registry(image string) (host string, ok bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false
	}
	return CanonicalHost(reference.Domain(named)), true
}

// Rewrite points image at proxyHost when it comes from upstreamHost (both as
// RegistryHost returns them). It keeps the repository path, the tag and the
// digest, and spells Docker Hub's short names out ("nginx" is
// "library/nginx"). An image from another registry, or one already on
// proxyHost, comes back unchanged with rewritten false.
func Rewrite(image, upstreamHost, proxyHost string) (string, bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil || CanonicalHost(reference.Domain(named)) != upstreamHost || upstreamHost == proxyHost {
		return image, false
	}
	out := proxyHost + "/" + reference.Path(named)
	if tagged, ok := named.(reference.Tagged); ok {
		out += ":" + tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		out += "@" + digested.Digest().String()
	}
	return out, true
}
