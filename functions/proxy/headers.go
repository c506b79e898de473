package main

import (
	"net/http"
	"net/url"
	"strings"
)

// requestHeaders are the client headers the upstream needs; everything else,
// Authorization and cookies above all, stays with the proxy.
var requestHeaders = []string{
	"Accept", "Accept-Encoding", "Content-Type", "Content-Range", "Range",
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Range",
	"Docker-Content-Digest", "OCI-Chunk-Min-Length",
}

// droppedResponseHeaders never reach the client: the upstream's challenge
// would ask for the upstream credential, and hop-by-hop headers are ours.
var droppedResponseHeaders = map[string]bool{
	"Www-Authenticate":    true,
	"Set-Cookie":          true,
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

func copyRequestHeaders(dst, src http.Header) {
	for _, k := range requestHeaders {
		if v, ok := src[k]; ok {
			dst[k] = append([]string(nil), v...)
		}
	}
	ua := "oci-connector-proxy"
	if client := src.Get("User-Agent"); client != "" {
		ua = client + " " + ua
	}
	dst.Set("User-Agent", ua)
}

// copyResponseHeaders copies the upstream's headers, pointing Location and
// Link back at the proxy so clients never talk to the upstream directly.
func copyResponseHeaders(dst, src http.Header, upstreamHost string) {
	for k, v := range src {
		if droppedResponseHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		switch http.CanonicalHeaderKey(k) {
		case "Location":
			dst[k] = []string{localizeURL(v[0], upstreamHost)}
		case "Link":
			out := make([]string, len(v))
			for i, link := range v {
				out[i] = localizeLink(link, upstreamHost)
			}
			dst[k] = out
		default:
			dst[k] = append([]string(nil), v...)
		}
	}
}

// localizeURL turns an absolute URL on the upstream into a path on the proxy;
// other URLs are left as they are.
func localizeURL(raw, upstreamHost string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || !strings.EqualFold(u.Host, upstreamHost) {
		return raw
	}
	return (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
}

// localizeLink rewrites the URL inside an RFC 8288 link, `<url>; rel="next"`.
func localizeLink(link, upstreamHost string) string {
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start < 0 || end < start {
		return link
	}
	return link[:start+1] + localizeURL(link[start+1:end], upstreamHost) + link[end:]
}
