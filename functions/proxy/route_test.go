package main

import (
	"errors"
	"testing"
)

func TestParseRoute(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		path     string
		want     route
		wantCode string
	}{
		{path: "/v2/", want: route{kind: routeBase}},
		{path: "/v2", want: route{kind: routeBase}},
		{path: "/v2/_catalog", want: route{kind: routeCatalog}},
		{path: "/v2/team/app/manifests/v1", want: route{routeManifest, "team/app", "v1"}},
		{path: "/v2/team/app/manifests/" + digest, want: route{routeManifest, "team/app", digest}},
		{path: "/v2/app/blobs/" + digest, want: route{routeBlob, "app", digest}},
		{path: "/v2/team/app/blobs/uploads/", want: route{routeUpload, "team/app", ""}},
		{path: "/v2/team/app/blobs/uploads/abc-123", want: route{routeUpload, "team/app", "abc-123"}},
		{path: "/v2/team/app/tags/list", want: route{routeTags, "team/app", ""}},
		{path: "/v2/team/app/referrers/" + digest, want: route{routeReferrers, "team/app", digest}},
		// A repository may itself contain a segment named like a route.
		{path: "/v2/tools/manifests/app/manifests/v1", want: route{routeManifest, "tools/manifests/app", "v1"}},
		{path: "/v2/Team/App/manifests/v1", wantCode: codeNameInvalid},
		{path: "/v2/team//app/manifests/v1", wantCode: codeNameInvalid},
		{path: "/v2/../etc/manifests/v1", wantCode: codeNameInvalid},
		{path: "/v2/app/manifests/-bad", wantCode: codeManifestInvalid},
		{path: "/v2/app/blobs/latest", wantCode: codeDigestInvalid},
		{path: "/v2/app/referrers/latest", wantCode: codeDigestInvalid},
		{path: "/v2/app/whatever", wantCode: codeUnsupported},
		{path: "/v2/app/blobs/uploads/..", wantCode: codeUnsupported},
		{path: "/v2/app/blobs/uploads/.", wantCode: codeUnsupported},
		{path: "/metrics", wantCode: codeUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := parseRoute(tc.path)
			if tc.wantCode != "" {
				var re *routeError
				if !errors.As(err, &re) || re.code != tc.wantCode {
					t.Fatalf("parseRoute(%q) = %+v, %v; want code %s", tc.path, got, err, tc.wantCode)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseRoute(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
			}
		})
	}
}

func FuzzParseRoute(f *testing.F) {
	f.Add("/v2/team/app/manifests/v1")
	f.Add("/v2/a/blobs/uploads/x")
	f.Add("/v2/../../x/tags/list")
	f.Fuzz(func(t *testing.T, path string) {
		r, err := parseRoute(path)
		if err != nil || r.kind == routeBase || r.kind == routeCatalog {
			return
		}
		// Whatever parses names a valid repository: no dot-segments, no
		// uppercase, nothing that could escape the upstream path.
		if !nameRE.MatchString(r.name) {
			t.Fatalf("parsed an invalid name %q from %q", r.name, path)
		}
	})
}
