package imageref

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// Whatever the image, a rewrite parses, sits on the proxy, keeps the path,
// tag and digest, and is never rewritten again.
func FuzzRewrite(f *testing.F) {
	for _, seed := range []string{
		"nginx", "nginx:1.27", "bitnami/redis@" + digest, "harbor.example.com/team/app:v1@" + digest,
		"localhost:5000/a/b", "127.0.0.1:5000/app:v2", proxy + "/team/app", "", ":", "a//b",
	} {
		f.Add(seed, "harbor.example.com")
		f.Add(seed, "docker.io")
	}
	f.Fuzz(func(t *testing.T, image, upstream string) {
		got, rewritten := Rewrite(image, upstream, proxy)
		if !rewritten {
			if got != image {
				t.Fatalf("Rewrite(%q) changed the image to %q without saying so", image, got)
			}
			return
		}
		before, err := reference.ParseNormalizedNamed(image)
		if err != nil {
			t.Fatalf("rewrote %q, which does not parse: %v", image, err)
		}
		after, err := reference.ParseNormalizedNamed(got)
		if err != nil {
			t.Fatalf("Rewrite(%q) = %q, which does not parse: %v", image, got, err)
		}
		if reference.Domain(after) != proxy || reference.Path(after) != reference.Path(before) {
			t.Fatalf("Rewrite(%q) = %q: not the same path on the proxy", image, got)
		}
		if strings.TrimPrefix(before.String(), before.Name()) != strings.TrimPrefix(after.String(), after.Name()) {
			t.Fatalf("Rewrite(%q) = %q: the tag or digest changed", image, got)
		}
		if _, again := Rewrite(got, upstream, proxy); again {
			t.Fatalf("Rewrite(%q) = %q is rewritten again", image, got)
		}
	})
}
