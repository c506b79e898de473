package clientconfig

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases are the proxies users have: the Knative default (plain HTTP
// inside the cluster and out), TLS with a private CA, and TLS with public
// roots.
var goldenCases = map[string]Proxy{
	"plain-http": {
		Endpoints: []Endpoint{{Host: "c-harbor.platform.example.com", PlainHTTP: true}, {Host: "c-harbor.platform.svc.cluster.local", PlainHTTP: true}},
		Token:     "TOKEN",
	},
	"tls-private-ca": {
		Endpoints: []Endpoint{{Host: "c-harbor.example.com:8443"}, {Host: "c-harbor.platform.svc.cluster.local", PlainHTTP: true}},
		Token:     "TOKEN",
		CAFile:    "/etc/buildkit/ca.crt",
	},
	"tls-public-roots": {
		Endpoints: []Endpoint{{Host: "registry.example.com"}},
		Token:     "TOKEN",
	},
}

// Every configuration of every case matches its golden file byte for byte.
func TestGolden(t *testing.T) {
	all := []Configuration{DockerConfigName, BuildkitdName, ContainersAuthName, RegistriesConfName, ContainerdHostsName}
	for name, p := range goldenCases {
		t.Run(name, func(t *testing.T) {
			files, err := Render(all, p)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", name)
			if *update {
				os.RemoveAll(dir)
				for path, b := range files {
					if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, path), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := map[string]string{}
			err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				rel, _ := filepath.Rel(dir, path)
				want[filepath.ToSlash(rel)] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for path, b := range files {
				got[path] = string(b)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files differ from testdata/%s (-golden +rendered; go test -update rewrites them):\n%s", name, diff)
			}
		})
	}
}

// config.json and auth.json log in to every endpoint with the token as the
// password, in the form Docker's and containers' readers take.
func TestDockerConfigLogsInEverywhere(t *testing.T) {
	p := goldenCases["plain-http"]
	b, err := DockerConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal(b, &config); err != nil {
		t.Fatal(err)
	}
	if len(config.Auths) != len(p.Endpoints) {
		t.Errorf("%d logins, want %d", len(config.Auths), len(p.Endpoints))
	}
	for _, e := range p.Endpoints {
		a := config.Auths[e.Host]
		if a.Password != "TOKEN" || a.Auth != base64.StdEncoding.EncodeToString([]byte(Username+":TOKEN")) {
			t.Errorf("login for %s: %+v", e.Host, a)
		}
	}
}

// What would break out of a quoted string or a path is refused, and so is
// an unknown configuration, naming the known ones.
func TestRefusals(t *testing.T) {
	ok := goldenCases["plain-http"]
	cases := map[string]struct {
		names []Configuration
		p     Proxy
		want  string
	}{
		"unknown name":     {[]Configuration{"docker-config", "kaniko"}, ok, `unknown configuration "kaniko"; known: buildkitd, containerd-hosts, containers-auth, docker-config, registries-conf`},
		"no name":          {nil, ok, "no configuration asked for"},
		"no endpoint":      {[]Configuration{BuildkitdName}, Proxy{Token: "T"}, "no address yet"},
		"quote in host":    {[]Configuration{BuildkitdName}, Proxy{Endpoints: []Endpoint{{Host: `h"]` + "\n" + `[x`}}}, "is not a host"},
		"slash in host":    {[]Configuration{ContainerdHostsName}, Proxy{Endpoints: []Endpoint{{Host: "../../etc"}}}, "is not a host"},
		"relative CA path": {[]Configuration{BuildkitdName}, Proxy{Endpoints: ok.Endpoints, CAFile: "ca.crt"}, "not an absolute path"},
		"newline in CA":    {[]Configuration{BuildkitdName}, Proxy{Endpoints: ok.Endpoints, CAFile: "/a\"\n[x]"}, "not an absolute path"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tc.names, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The proxy is named by its external host first, then its cluster-local
// one, each with its own scheme, and a host only once.
func TestEndpoints(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	c.Status.URL = &apis.URL{Scheme: "https", Host: "c-harbor.example.com"}
	c.Status.Address = &duckv1.Addressable{URL: &apis.URL{Scheme: "http", Host: "c-harbor.platform.svc.cluster.local"}}
	want := []Endpoint{{Host: "c-harbor.example.com"}, {Host: "c-harbor.platform.svc.cluster.local", PlainHTTP: true}}
	if diff := cmp.Diff(want, Endpoints(c)); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	c.Status.Address.URL.Host = "c-harbor.example.com"
	if got := Endpoints(c); len(got) != 1 {
		t.Errorf("one host named twice gave %v", got)
	}
	c.Status.URL, c.Status.Address = nil, nil
	if got := Endpoints(c); len(got) != 0 {
		t.Errorf("no address gave %v", got)
	}
}
