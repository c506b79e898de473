package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// routeKind is which part of the distribution API a request is for.
type routeKind int

const (
	routeBase routeKind = iota
	routeCatalog
	routeManifest
	routeBlob
	routeUpload
	routeTags
	routeReferrers
)

// route is a parsed /v2/ request path.
type route struct {
	kind routeKind
	// name is the repository, e.g. team-a/app.
	name string
	// reference is the tag or digest of a manifest, the digest of a blob or
	// referrers request, or the session of an upload ("" when starting one).
	reference string
}

var (
	// From the distribution spec.
	nameRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	// An upload session id is opaque to us, but it travels in a path segment.
	sessionRE = regexp.MustCompile(`^[A-Za-z0-9._~=-]{1,256}$`)
)

const maxNameLength = 255

// routeError is a path the proxy refuses, with its OCI error code.
type routeError struct {
	code    string
	message string
}

func (e *routeError) Error() string { return e.message }

// parseRoute parses a request path under /v2/.
func parseRoute(path string) (route, error) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: routeBase}, nil
		}
		return route{}, &routeError{codeUnsupported, "not a registry API path"}
	}
	switch {
	case rest == "":
		return route{kind: routeBase}, nil
	case rest == "_catalog":
		return route{kind: routeCatalog}, nil
	}
	type pattern struct {
		kind      routeKind
		separator string
		exact     bool // the separator ends the path
	}
	// Longest separators first, so /blobs/uploads/ wins over /blobs/.
	for _, p := range []pattern{
		{routeTags, "/tags/list", true},
		{routeUpload, "/blobs/uploads/", false},
		{routeManifest, "/manifests/", false},
		{routeBlob, "/blobs/", false},
		{routeReferrers, "/referrers/", false},
	} {
		i := strings.LastIndex(rest, p.separator)
		if i <= 0 {
			continue
		}
		name, ref := rest[:i], rest[i+len(p.separator):]
		if p.exact && ref != "" {
			continue
		}
		if strings.Contains(ref, "/") {
			continue
		}
		r := route{kind: p.kind, name: name, reference: ref}
		return r, r.validate()
	}
	return route{}, &routeError{codeUnsupported, fmt.Sprintf("unknown registry API path %q", path)}
}

func (r route) validate() error {
	if len(r.name) > maxNameLength || !nameRE.MatchString(r.name) {
		return &routeError{codeNameInvalid, fmt.Sprintf("invalid repository name %q", r.name)}
	}
	switch r.kind {
	case routeManifest:
		if !tagRE.MatchString(r.reference) && !digestRE.MatchString(r.reference) {
			return &routeError{codeManifestInvalid, fmt.Sprintf("invalid tag or digest %q", r.reference)}
		}
	case routeBlob, routeReferrers:
		if !digestRE.MatchString(r.reference) {
			return &routeError{codeDigestInvalid, fmt.Sprintf("invalid digest %q", r.reference)}
		}
	case routeUpload:
		// "." and ".." would name the directory above the session upstream.
		if r.reference != "" && (!sessionRE.MatchString(r.reference) || r.reference == "." || r.reference == "..") {
			return &routeError{codeUnsupported, "invalid upload session"}
		}
	}
	return nil
}

// verbFor is the RBAC verb a method needs: reading is pull, everything that
// changes the registry is push.
func verbFor(method string) (connector.Verb, bool) {
	switch method {
	case http.MethodGet, http.MethodHead:
		return connector.VerbPull, true
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return connector.VerbPush, true
	default:
		return "", false
	}
}
