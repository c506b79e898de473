package main

import "testing"

func TestQueryForwardsOnlyWhatTheRouteDefines(t *testing.T) {
	start := route{kind: routeUpload, name: "team/app"}
	session := route{kind: routeUpload, name: "team/app", reference: "3f1a"}
	for _, tc := range []struct {
		name, method string
		rt           route
		raw          string
		want         string // forwarded; "!" for a refusal
	}{
		{"a mount, re-encoded", "POST", start, "from=team%2Fbase&mount=sha256:ab", "from=team%2Fbase&mount=sha256%3Aab"},
		{"a semicolon does not sneak a second source past the check", "POST", start, "mount=sha256:ab&from=team/base;from=other/secret", "!"},
		{"a repeated from is refused", "POST", start, "mount=sha256:ab&from=team/base&from=other/secret", "!"},
		{"a repeated digest is refused", "PUT", session, "digest=sha256:ab&digest=sha256:cd", "!"},
		{"a bad escape is refused", "GET", route{kind: routeTags, name: "team/app"}, "n=%zz", "!"},
		{"what a route does not define is dropped", "GET", route{kind: routeTags, name: "team/app"}, "n=10&last=v1&evil=1", "last=v1&n=10"},
		{"a blob takes no parameters", "GET", route{kind: routeBlob, name: "team/app", reference: "sha256:ab"}, "x=1", ""},
		{"referrers keep their filter", "GET", route{kind: routeReferrers, name: "team/app", reference: "sha256:ab"}, "artifactType=application%2Fvnd.example&x=1", "artifactType=application%2Fvnd.example"},
		{"a manifest push keeps its tags", "PUT", route{kind: routeManifest, name: "team/app", reference: "sha256:ab"}, "tag=v1", "tag=v1"},
		{"a manifest read takes none", "GET", route{kind: routeManifest, name: "team/app", reference: "v1"}, "tag=v1", ""},
		{"an upload session keeps the upstream's state", "PATCH", session, "_state=abc%3D%3D", "_state=abc%3D%3D"},
	} {
		_, got, ref := queryFor(tc.method, tc.rt, tc.raw)
		switch {
		case tc.want == "!" && ref == nil:
			t.Errorf("%s: forwarded %q, want a refusal", tc.name, got)
		case tc.want == "!" && ref.status != 400:
			t.Errorf("%s: refused with %d, want 400", tc.name, ref.status)
		case tc.want != "!" && ref != nil:
			t.Errorf("%s: refused (%s), want %q forwarded", tc.name, ref.message, tc.want)
		case tc.want != "!" && got != tc.want:
			t.Errorf("%s: forwarded %q, want %q", tc.name, got, tc.want)
		}
	}
}
