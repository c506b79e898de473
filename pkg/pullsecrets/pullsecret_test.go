package pullsecrets

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

func TestMakePullSecret(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	expires := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default", UID: "sa-uid"}}
	s, err := Make(c, sa, "TOKEN", expires)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson || s.Namespace != "team-a" || s.Name != Name(c, "default") {
		t.Errorf("secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	if s.Labels[labelConnectorNamespace] != "platform" || s.Labels[labelConnectorName] != "harbor" || s.Labels[labelServiceAccount] != "default" {
		t.Errorf("labels %v", s.Labels)
	}
	if !ExpiresAt(s).Equal(expires) {
		t.Errorf("expires %v, want %v", ExpiresAt(s), expires)
	}
	var config struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"c-harbor.platform.example.com", "c-harbor.platform.svc.cluster.local"} {
		a := config.Auths[host]
		if a.Username != clientconfig.Username || a.Password != "TOKEN" || a.Auth != base64.StdEncoding.EncodeToString([]byte(clientconfig.Username+":TOKEN")) {
			t.Errorf("login for %s: %+v", host, a)
		}
	}
	if len(config.Auths) != 2 {
		t.Errorf("logins for %d hosts, want 2: %v", len(config.Auths), config.Auths)
	}

	// A Connector without a proxy address has nothing to log in to.
	if _, err := Make(ctesting.NewConnector("platform", "new", "https://h", "s"), sa, "T", expires); err == nil {
		t.Error("a pull secret for a Connector without a proxy URL")
	}
}

// Only a Secret tokenrefresh wrote counts as its own: the labels alone, a
// wrong name, a missing or forged owner, or another ServiceAccount's mark
// do not.
func TestOwnershipCannotBeFakedWithLabels(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default", UID: "sa-uid"}}
	written, err := Make(c, sa, "TOKEN", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !Owned(c, written) {
		t.Fatal("a pull secret tokenrefresh wrote is not recognised as its own")
	}
	for name, change := range map[string]func(*corev1.Secret){
		"labels on another Secret": func(s *corev1.Secret) {
			s.Name, s.OwnerReferences, s.Annotations = "db-password", nil, nil
		},
		"our name and labels, no mark": func(s *corev1.Secret) { delete(s.Annotations, annotationOwner) },
		"no owner reference":           func(s *corev1.Secret) { s.OwnerReferences = nil },
		"another ServiceAccount's UID": func(s *corev1.Secret) { s.OwnerReferences[0].UID = "other-uid" },
		"another Connector's labels": func(s *corev1.Secret) {
			s.Labels[labelConnectorName] = "quay"
		},
	} {
		s := written.DeepCopy()
		change(s)
		owner := c
		if s.Labels[labelConnectorName] == "quay" {
			owner = ctesting.NewConnector("platform", "quay", "https://quay.io", "s")
		}
		if Owned(owner, s) {
			t.Errorf("%s: counted as tokenrefresh's own", name)
		}
	}
}

func TestSecretNamesAreStableAndDistinct(t *testing.T) {
	a := ctesting.NewConnector("platform", "harbor", "https://h", "s")
	b := ctesting.NewConnector("other", "harbor", "https://h", "s")
	if again := ctesting.NewConnector("platform", "harbor", "https://h", "s"); Name(a, "default") != Name(again, "default") {
		t.Error("the name differs for equal Connectors")
	}
	names := map[string]bool{Name(a, "default"): true, Name(a, "builder"): true, Name(b, "default"): true}
	if len(names) != 3 {
		t.Errorf("names collide: %v", names)
	}
	for n := range names {
		if len(n) > 63 || !strings.HasPrefix(n, "oci-connector-pull-") {
			t.Errorf("name %q", n)
		}
	}
}
