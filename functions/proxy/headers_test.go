package main

import (
	"net/http"
	"testing"
)

func TestCopyResponseHeaders(t *testing.T) {
	src := http.Header{
		"Www-Authenticate":      {`Bearer realm="https://auth.upstream.example.com/token"`},
		"Set-Cookie":            {"session=upstream"},
		"Connection":            {"close"},
		"Docker-Content-Digest": {"sha256:abc"},
		"Content-Length":        {"42"},
		"Content-Type":          {"application/vnd.oci.image.manifest.v1+json"},
		"Oci-Subject":           {"sha256:def"},
		"Location":              {"https://upstream.example.com/v2/app/blobs/uploads/u1?_state=x"},
		"Link":                  {`<https://upstream.example.com/v2/app/tags/list?n=2&last=b>; rel="next"`},
	}
	dst := http.Header{}
	copyResponseHeaders(dst, src, "upstream.example.com")
	for _, gone := range []string{"Www-Authenticate", "Set-Cookie", "Connection"} {
		if dst.Get(gone) != "" {
			t.Errorf("%s reached the client: %q", gone, dst.Get(gone))
		}
	}
	for _, kept := range []string{"Docker-Content-Digest", "Content-Length", "Content-Type", "Oci-Subject"} {
		if dst.Get(kept) != src.Get(kept) {
			t.Errorf("%s = %q, want %q", kept, dst.Get(kept), src.Get(kept))
		}
	}
	if got := dst.Get("Location"); got != "/v2/app/blobs/uploads/u1?_state=x" {
		t.Errorf("Location = %q, want it relative to the proxy", got)
	}
	if got := dst.Get("Link"); got != `</v2/app/tags/list?n=2&last=b>; rel="next"` {
		t.Errorf("Link = %q, want it relative to the proxy", got)
	}
}

func TestLocalizeURLLeavesOtherHostsAlone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/v2/app/blobs/uploads/u1", "/v2/app/blobs/uploads/u1"},
		{"https://storage.example.com/blob?sig=1", "https://storage.example.com/blob?sig=1"},
		{"https://UPSTREAM.example.com/v2/x", "/v2/x"},
	} {
		if got := localizeURL(tc.in, "upstream.example.com"); got != tc.want {
			t.Errorf("localizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCopyRequestHeadersKeepsCredentialsHome(t *testing.T) {
	src := http.Header{
		"Authorization": {"Basic dTp0b2tlbg=="},
		"Cookie":        {"a=b"},
		"Range":         {"bytes=0-9"},
		"Accept":        {"application/vnd.oci.image.index.v1+json"},
		"User-Agent":    {"skopeo/1.9"},
	}
	dst := http.Header{}
	copyRequestHeaders(dst, src)
	if dst.Get("Authorization") != "" || dst.Get("Cookie") != "" {
		t.Fatalf("the client's credentials would go upstream: %v", dst)
	}
	if dst.Get("Range") != "bytes=0-9" || dst.Get("Accept") == "" {
		t.Errorf("Range/Accept not kept: %v", dst)
	}
	if dst.Get("User-Agent") != "skopeo/1.9 oci-connector-proxy" {
		t.Errorf("User-Agent = %q", dst.Get("User-Agent"))
	}
}
