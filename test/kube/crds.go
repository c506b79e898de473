package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/oci-connector/oci-connector/test/harness"
)

// InstallCRDs installs our CRDs (config/300-*.yaml) and Knative Serving's
// (config/core/300-resources of the knative.dev/serving module in go.mod),
// and waits until the API server serves them.
func (c *Cluster) InstallCRDs(t harness.T) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	ours, err := filepath.Glob(filepath.Join(root, "config", "300-*.yaml"))
	if err != nil || len(ours) == 0 {
		t.Fatalf("no config/300-*.yaml CRDs under %s", root)
	}
	servingDir, err := ModuleDir(root, "knative.dev/serving")
	if err != nil {
		t.Fatalf("finding knative.dev/serving: %v", err)
	}
	serving, err := filepath.Glob(filepath.Join(servingDir, "config", "core", "300-resources", "*.yaml"))
	if err != nil || len(serving) == 0 {
		t.Fatalf("no Knative Serving CRDs under %s", servingDir)
	}

	client, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("apiextensions client: %v", err)
	}
	ctx := context.Background()
	var names []string
	for _, path := range append(ours, serving...) {
		crds, err := readCRDs(path)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		for _, crd := range crds {
			if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrs.IsAlreadyExists(err) {
				t.Fatalf("creating CRD %s from %s: %v", crd.Name, path, err)
			}
			names = append(names, crd.Name)
		}
	}
	for _, name := range names {
		if err := waitEstablished(ctx, client, name); err != nil {
			t.Fatalf("CRD %s: %v", name, err)
		}
	}
}

func readCRDs(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []*apiextensionsv1.CustomResourceDefinition
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := decoder.Decode(crd); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if crd.Kind == "CustomResourceDefinition" {
			out = append(out, crd)
		}
	}
}

func waitEstablished(ctx context.Context, client apiextensionsclient.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// ModuleDir asks the go command where a dependency's source is.
func ModuleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}
