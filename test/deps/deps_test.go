// Package deps checks what the build is made from: the module graph
// against what Knative was built with, and the configuration ko reads.
// knative.dev/pkg's sharedmain panics at start-up ("conflicting Schema URL")
// when OpenTelemetry is newer than the version it pins, and Knative's
// generated clients break when Kubernetes moves: a go.mod change that moves
// either fails here, before a binary ships.
package deps

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/oci-connector/oci-connector/test/harness"
)

// pinned are the module path prefixes whose versions must be exactly
// Knative's.
var pinned = []string{"go.opentelemetry.io/", "k8s.io/", "knative.dev/", "sigs.k8s.io/"}

// Knative's modules whose requirements we follow; serving is built on pkg.
var knativeModules = []string{"knative.dev/pkg", "knative.dev/serving"}

func TestModulesStayAtKnativesPins(t *testing.T) {
	selected := goList(t, "all")
	for _, mod := range knativeModules {
		goMod := goListField(t, mod, "{{.GoMod}}")
		raw, err := os.ReadFile(goMod)
		if err != nil {
			t.Fatalf("reading %s's go.mod: %v", mod, err)
		}
		f, err := modfile.ParseLax(goMod, raw, nil)
		if err != nil {
			t.Fatalf("parsing %s's go.mod: %v", mod, err)
		}
		checked := 0
		for _, req := range f.Require {
			if !isPinned(req.Mod.Path) {
				continue
			}
			got, ok := selected[req.Mod.Path]
			if !ok {
				continue // not in our build at all
			}
			checked++
			if got != req.Mod.Version {
				t.Errorf("go.mod selects %s %s, but %s %s was built with %s: pin it to %s (go get %s@%s)",
					req.Mod.Path, got, mod, selected[mod], req.Mod.Version, req.Mod.Version, req.Mod.Path, req.Mod.Version)
			}
		}
		if checked == 0 {
			t.Errorf("no pinned module of %s's go.mod is in our build; is the check reading the right file (%s)?", mod, goMod)
		}
	}
}

func isPinned(path string) bool {
	for _, prefix := range pinned {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// goList returns the path -> version of the modules go list -m selects.
// The proxy and the audit function serve requests, a replica per Connector
// scaled by Knative. They ask the API server only TokenReview and
// SubjectAccessReview (pkg/reviews), and must not link the generated
// clientset: registering every API group at start-up cost each proxy replica
// about 18 MiB of resident memory.
func TestRequestServingFunctionsDoNotLinkTheClientset(t *testing.T) {
	for _, pkg := range []string{"./functions/proxy", "./functions/audit"} {
		for _, dep := range strings.Fields(string(goCommand(t, "list", "-deps", pkg))) {
			if dep == "k8s.io/client-go/kubernetes" || dep == "k8s.io/client-go/kubernetes/scheme" {
				t.Errorf("%s links %s; use pkg/reviews", pkg, dep)
			}
		}
	}
}

// The proxy shares with the API only what pkg/apis/connector holds (verbs,
// blob-redirect modes, audiences): it must not link the versioned API,
// which brings Knative's apis and Serving's behind it (8 MB of binary).
func TestTheProxyLinksNoVersionedAPI(t *testing.T) {
	for _, dep := range strings.Fields(string(goCommand(t, "list", "-deps", "./functions/proxy"))) {
		switch {
		case dep == "github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1",
			strings.HasPrefix(dep, "knative.dev/serving/"),
			strings.HasPrefix(dep, "knative.dev/pkg/apis"):
			t.Errorf("./functions/proxy links %s; take what it needs from pkg/apis/connector", dep)
		}
	}
}

func goList(t *testing.T, pattern string) map[string]string {
	t.Helper()
	out := goCommand(t, "list", "-m", "-f", "{{.Path}} {{.Version}}", pattern)
	versions := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			versions[f[0]] = f[1]
		}
	}
	return versions
}

func goListField(t *testing.T, mod, format string) string {
	t.Helper()
	return strings.TrimSpace(string(goCommand(t, "list", "-m", "-f", format, mod)))
}

func goCommand(t *testing.T, args ...string) []byte {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return out
}
