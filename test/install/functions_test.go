package install

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The functions serve the controller as shipped: the controller binary
// sends its events to the audit binary (config/600-audit.yaml's
// environment) and its refresh events to the tokenrefresh binary
// (TOKENREFRESH_URL), which, with config/'s RBAC for its ServiceAccount,
// keeps a pull secret on the ServiceAccount the Connector selects and
// records that in the audit trail.
func TestFunctionsServeTheController(t *testing.T) {
	for _, base := range []string{auditURL, tokenrefreshURL} {
		resp, err := http.Get(base + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/healthz: %v %v", base, resp, err)
		}
		resp.Body.Close()
	}

	ns := "functions"
	cluster.EnsureServiceAccount(t, ns, "builder")
	cluster.BindClusterRole(t, ns, "builder", "oci-connector-puller", ns)
	reg := registry.NewHtpasswd(t)
	c := connectorFor(ns, "harbor", reg)
	sink, err := apis.ParseURL(auditURL)
	if err != nil {
		t.Fatal(err)
	}
	c.Spec.Sink = &duckv1.Destination{URI: sink}
	c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"builder"}}
	controlplane.ReadyConnector(t, cluster.Config, c, registry.SecretData(), func(string) {})

	// A team's reader sees its own namespace's trail (config/'s reader role).
	cluster.BindClusterRole(t, ns, "auditor", "oci-connector-audit-reader", ns)
	reader := cluster.Token(t, ns, "auditor", "", time.Hour)
	inAuditTrail := func(typ string) {
		waitFor(t, typ+" of functions/harbor in the audit trail", func(ctx context.Context) (bool, string) {
			query := url.Values{"type": {typ}, "connector": {ns + "/harbor"}}
			req, _ := http.NewRequestWithContext(ctx, "GET", auditURL+"/events?"+query.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+reader)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var page struct{ Events []json.RawMessage }
			if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
				return false, err.Error()
			}
			return len(page.Events) > 0, fmt.Sprintf("%d rows", len(page.Events))
		})
	}
	inAuditTrail(events.PullSecretsRefresh)
	waitFor(t, "tokenrefresh's pull secret on functions/builder", func(ctx context.Context) (bool, string) {
		sa, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "builder", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ref := range sa.ImagePullSecrets {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil && s.Labels[connector.PullSecretConnectorNameLabel] == "harbor" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("imagePullSecrets %v", sa.ImagePullSecrets)
	})
	// What tokenrefresh did is on the record too, from tokenrefresh itself.
	inAuditTrail(events.PullSecretsRotated)
}

// Of what config/ installs, only tokenrefresh's identity may mint
// ServiceAccount tokens.
func TestOnlyTokenrefreshMintsTokens(t *testing.T) {
	for _, sa := range []struct {
		namespace, name string
		want            bool
	}{
		{systemNamespace, "oci-connector-tokenrefresh", true},
		{systemNamespace, "oci-connector-controller", false},
		{systemNamespace, "default", false}, // the audit function's
		{"team-a", "oci-connector-proxy", false},
	} {
		review, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   "system:serviceaccount:" + sa.namespace + ":" + sa.name,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "team-b", Verb: "create", Resource: "serviceaccounts", Subresource: "token",
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != sa.want {
			t.Errorf("%s/%s may create serviceaccounts/token: %v, want %v", sa.namespace, sa.name, review.Status.Allowed, sa.want)
		}
	}
}
