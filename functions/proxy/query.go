package main

import (
	"fmt"
	"net/url"
)

// singleParams are the query parameters the distribution API defines; each
// may appear once.
var singleParams = []string{"mount", "from", "digest", "n", "last", "artifactType", "tag"}

// queryFor parses a request's query once and says what goes upstream: only
// the parameters the route defines, re-encoded, so the upstream reads
// exactly what the proxy checked. An upload session's own URL (which the
// upstream handed out, with state such as distribution's _state) keeps its
// parameters, re-encoded too. A query that does not parse, or names a
// parameter twice, is refused.
func queryFor(method string, rt route, raw string) (url.Values, string, *refusal) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, "", badQuery(fmt.Sprintf("the query does not parse: %v", err))
	}
	for _, p := range singleParams {
		if len(values[p]) > 1 {
			return nil, "", badQuery(fmt.Sprintf("the query names %q %d times", p, len(values[p])))
		}
	}
	var allowed []string
	switch {
	case rt.kind == routeUpload && rt.reference != "":
		return values, values.Encode(), nil
	case rt.kind == routeUpload:
		allowed = []string{"mount", "from", "digest"}
	case rt.kind == routeTags:
		allowed = []string{"n", "last"}
	case rt.kind == routeReferrers:
		allowed = []string{"artifactType"}
	case rt.kind == routeManifest && method == "PUT":
		allowed = []string{"tag"}
	}
	forwarded := url.Values{}
	for _, p := range allowed {
		if v, ok := values[p]; ok {
			forwarded[p] = v
		}
	}
	return values, forwarded.Encode(), nil
}

func badQuery(message string) *refusal {
	return &refusal{status: 400, code: codeUnsupported, message: message, reason: "bad query"}
}
