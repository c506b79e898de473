package imageref

import "testing"

const (
	digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	proxy  = "c-harbor.platform.example.com"
)

func TestRewrite(t *testing.T) {
	for _, c := range []struct {
		name, image, upstream string
		want                  string // "" means unchanged
	}{
		{"host and path with a tag", "harbor.example.com/team/app:v1", "harbor.example.com", proxy + "/team/app:v1"},
		{"no tag stays without one", "harbor.example.com/team/app", "harbor.example.com", proxy + "/team/app"},
		{"nested path", "harbor.example.com/a/b/c/app:v1", "harbor.example.com", proxy + "/a/b/c/app:v1"},
		{"host:port", "registry.local:5000/team/app:v1", "registry.local:5000", proxy + "/team/app:v1"},
		{"host:port with another port is another registry", "registry.local:5001/team/app:v1", "registry.local:5000", ""},
		{"localhost without a port", "localhost/app:v1", "localhost", proxy + "/app:v1"},
		{"localhost with a port", "localhost:5000/team/app", "localhost:5000", proxy + "/team/app"},
		{"an IP and port", "127.0.0.1:5000/app:v2", "127.0.0.1:5000", proxy + "/app:v2"},
		{"digest only", "harbor.example.com/team/app@" + digest, "harbor.example.com", proxy + "/team/app@" + digest},
		{"tag and digest together", "harbor.example.com/team/app:v1@" + digest, "harbor.example.com", proxy + "/team/app:v1@" + digest},
		{"host case does not matter", "Harbor.Example.com/team/app:v1", "harbor.example.com", proxy + "/team/app:v1"},
		{"Docker Hub library short name", "nginx", "docker.io", proxy + "/library/nginx"},
		{"Docker Hub library short name with a tag", "nginx:1.27", "docker.io", proxy + "/library/nginx:1.27"},
		{"Docker Hub library by digest", "nginx@" + digest, "docker.io", proxy + "/library/nginx@" + digest},
		{"Docker Hub spelled out", "docker.io/library/nginx:1.27", "docker.io", proxy + "/library/nginx:1.27"},
		{"Docker Hub through index.docker.io", "index.docker.io/library/nginx:1.27", "docker.io", proxy + "/library/nginx:1.27"},
		{"Docker Hub user image", "bitnami/redis:7", "docker.io", proxy + "/bitnami/redis:7"},
		{"Docker Hub user image spelled out", "docker.io/bitnami/redis:7", "docker.io", proxy + "/bitnami/redis:7"},
		{"a short name is Docker Hub's, not another upstream's", "nginx", "harbor.example.com", ""},
		{"an image already rewritten", proxy + "/team/app:v1", "harbor.example.com", ""},
		{"an image already rewritten from Docker Hub", proxy + "/library/nginx", "docker.io", ""},
		{"another registry", "quay.io/team/app:v1", "harbor.example.com", ""},
		{"a host that only starts like the upstream", "harbor.example.com.evil.net/team/app", "harbor.example.com", ""},
		{"a reference that does not parse", "harbor.example.com/Team/App:v1", "harbor.example.com", ""},
		{"an empty image", "", "harbor.example.com", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, rewritten := Rewrite(c.image, c.upstream, proxy)
			want := c.want
			if want == "" {
				want = c.image
			}
			if got != want || rewritten != (c.want != "") {
				t.Errorf("Rewrite(%q, %q) = %q, %v; want %q, %v", c.image, c.upstream, got, rewritten, want, c.want != "")
			}
			if rewritten {
				// Idempotent: the result is never rewritten again.
				if again, twice := Rewrite(got, c.upstream, proxy); twice {
					t.Errorf("rewriting %q again gave %q", got, again)
				}
			}
		})
	}
}

func TestRegistryHost(t *testing.T) {
	for _, c := range []struct{ address, want string }{
		{"https://harbor.example.com", "harbor.example.com"},
		{"https://harbor.example.com/", "harbor.example.com"},
		{"https://harbor.example.com:443", "harbor.example.com"},
		{"http://harbor.example.com:80", "harbor.example.com"},
		{"http://harbor.example.com:443", "harbor.example.com:443"},
		{"https://Registry.Local:5000", "registry.local:5000"},
		{"http://127.0.0.1:5000", "127.0.0.1:5000"},
		{"https://registry-1.docker.io", "docker.io"},
		{"https://index.docker.io", "docker.io"},
		{"https://docker.io", "docker.io"},
		{"http://c-harbor.platform.example.com", "c-harbor.platform.example.com"},
	} {
		got, err := RegistryHost(c.address)
		if err != nil || got != c.want {
			t.Errorf("RegistryHost(%q) = %q, %v; want %q", c.address, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "harbor.example.com", "://x"} {
		if got, err := RegistryHost(bad); err == nil {
			t.Errorf("RegistryHost(%q) = %q, want an error", bad, got)
		}
	}
}

func TestRegistry(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                          "docker.io",
		"index.docker.io/library/nginx":  "docker.io",
		"harbor.example.com/team/app:v1": "harbor.example.com",
		"localhost:5000/app":             "localhost:5000",
	} {
		if got, ok := Registry(image); !ok || got != want {
			t.Errorf("Registry(%q) = %q, %v; want %q", image, got, ok, want)
		}
	}
	if _, ok := Registry("harbor.example.com/Team/App"); ok {
		t.Error("an unparseable reference has a registry")
	}
}
