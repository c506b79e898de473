// Package shipped runs this repository's binaries as config/ runs them: the
// container environment of their Deployment or Knative Service, resolved as
// the kubelet would, and the identity of their ServiceAccount.
package shipped

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/oci-connector/oci-connector/test/harness"
)

// koImage is how config/ names an image ko builds from this repository.
var koImage = regexp.MustCompile(`ko://github\.com/oci-connector/oci-connector/([^\s"]+)`)

// resolveImages replaces each ko:// image in text by image(its path), as ko
// does at install.
func resolveImages(text []byte, image func(koPath string) string) []byte {
	return koImage.ReplaceAllFunc(text, func(ref []byte) []byte {
		return []byte(image(string(koImage.FindSubmatch(ref)[1])))
	})
}

// Workload is the pod that a config/ file runs.
type Workload struct {
	// Namespace is the workload's own namespace.
	Namespace string
	// NodeName is the node a DaemonSet's pod runs on, for spec.nodeName
	// references; the caller sets it.
	NodeName string
	// Spec is its pod spec as shipped.
	Spec corev1.PodSpec
}

// Load reads the Deployment, DaemonSet or Knative Service named name in config/<file>.
func Load(t harness.T, file, name string) Workload {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	path := filepath.Join(root, "config", file)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading config/%s: %v", file, err)
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("config/%s: %v", file, err)
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("config/%s: %v", file, err)
		}
		if meta.Metadata.Name != name {
			continue
		}
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				t.Fatalf("config/%s: %v", file, err)
			}
			return Workload{Namespace: d.Namespace, Spec: d.Spec.Template.Spec}
		case "DaemonSet":
			var d appsv1.DaemonSet
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				t.Fatalf("config/%s: %v", file, err)
			}
			return Workload{Namespace: d.Namespace, Spec: d.Spec.Template.Spec}
		case "Service":
			var s servingv1.Service
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				t.Fatalf("config/%s: %v", file, err)
			}
			return Workload{Namespace: s.Namespace, Spec: s.Spec.Template.Spec.PodSpec}
		}
	}
	t.Fatalf("config/%s has no Deployment, DaemonSet or Knative Service %q", file, name)
	return Workload{}
}

// Args are the first container's arguments as shipped.
func (w Workload) Args() []string {
	return w.Spec.Containers[0].Args
}

// ServiceAccount is the ServiceAccount the workload runs as.
func (w Workload) ServiceAccount() string {
	if w.Spec.ServiceAccountName == "" {
		return "default"
	}
	return w.Spec.ServiceAccountName
}

// Env is the first container's environment as the kubelet would give it:
// plain values; fieldRefs to the pod's namespace and (with NodeName) its node; an optional Secret key
// left out (the tests create no such Secret); ko:// images as the test
// image for them; paths under a volume mount moved under dir, where the
// volumes live in tests. Anything else fails t: the tests would no longer
// run the binary as shipped.
func (w Workload) Env(t harness.T, images func(koPath string) string, dir string) []string {
	t.Helper()
	c := w.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		value, err := w.resolve(e, images, dir)
		if errors.Is(err, errOptionalAbsent) {
			continue
		}
		if err != nil {
			t.Fatalf("env %s of %s: %v", e.Name, c.Name, err)
		}
		env = append(env, e.Name+"="+value)
	}
	return env
}

var errOptionalAbsent = errors.New("optional and absent")

func (w Workload) resolve(e corev1.EnvVar, images func(string) string, dir string) (string, error) {
	switch {
	case e.ValueFrom == nil:
		v := string(resolveImages([]byte(e.Value), images))
		for _, m := range w.Spec.Containers[0].VolumeMounts {
			if v == m.MountPath || strings.HasPrefix(v, m.MountPath+"/") {
				return filepath.Join(dir, m.Name, strings.TrimPrefix(v, m.MountPath)), nil
			}
		}
		return v, nil
	case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
		return w.Namespace, nil
	case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" && w.NodeName != "":
		return w.NodeName, nil
	case e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional:
		return "", errOptionalAbsent
	default:
		return "", fmt.Errorf("no test resolution for %+v", e.ValueFrom)
	}
}

// VolumeDirs makes a directory under dir for each of the first container's
// volume mounts, where Env points paths under them.
func (w Workload) VolumeDirs(t harness.T, dir string) {
	t.Helper()
	for _, m := range w.Spec.Containers[0].VolumeMounts {
		if err := os.MkdirAll(filepath.Join(dir, m.Name), 0o700); err != nil {
			t.Fatalf("volume %s: %v", m.Name, err)
		}
	}
}

// ProjectedTokens writes, under dir, the ServiceAccount tokens the
// workload's projected volumes would hold, each minted by mint for its
// audience, as the kubelet does for a pod.
func (w Workload) ProjectedTokens(t harness.T, dir string, mint func(audience string) string) {
	t.Helper()
	for _, v := range w.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if tok := src.ServiceAccountToken; tok != nil {
				path := filepath.Join(dir, v.Name, tok.Path)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatalf("volume %s: %v", v.Name, err)
				}
				if err := os.WriteFile(path, []byte(mint(tok.Audience)), 0o600); err != nil {
					t.Fatalf("volume %s: %v", v.Name, err)
				}
			}
		}
	}
}

// Config writes every file of config/ into a new directory, each ko://
// image replaced by image(its path), as ko resolves them at install, and
// returns the directory.
func Config(t harness.T, image func(koPath string) string) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in config/: %v", err)
	}
	dir := t.TempDir()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), resolveImages(raw, image), 0o600); err != nil {
			t.Fatalf("%v", err)
		}
	}
	return dir
}
