// Package access asks the API server, with SubjectAccessReview, whether an
// identity may pull or push through a Connector, and remembers the answer for
// seconds. The proxy asks for every request; the pod webhook asks for the
// ServiceAccount a pod runs as.
package access

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/reviews"
)

// Reviewer asks SubjectAccessReview about pull and push on connectors/proxy.
type Reviewer struct {
	authorizer *identity.Authorizer
}

// NewReviewer makes a Reviewer that asks through sars (a clientset's
// AuthorizationV1().SubjectAccessReviews(), or reviews.Client's) and keeps
// answers for seconds: for the proxy and the webhook, which ask per request.
func NewReviewer(sars reviews.SubjectAccessReviews) *Reviewer {
	return &Reviewer{authorizer: identity.NewAuthorizer(sars, identity.DefaultAllowedTTL, identity.DefaultDeniedTTL)}
}

// NewUncachedReviewer makes a Reviewer that asks every time: for
// tokenrefresh, which asks once per ServiceAccount per event, and must see
// a RoleBinding made a moment before the event.
func NewUncachedReviewer(sars reviews.SubjectAccessReviews) *Reviewer {
	return &Reviewer{authorizer: identity.NewAuthorizer(sars, 0, 0)}
}

// ServiceAccount is the identity the API server gives a ServiceAccount's
// tokens: the username and groups a pod running as it authenticates with.
func ServiceAccount(namespace, name string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{
		Username: "system:serviceaccount:" + namespace + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// Allowed says whether user may use verb on the Connector, and whether the
// answer came from the cache.
func (r *Reviewer) Allowed(ctx context.Context, user authenticationv1.UserInfo, connectorKey types.NamespacedName, verb connector.Verb) (allowed, cached bool, err error) {
	return r.authorizer.Allowed(ctx, user, ProxyAttributes(connectorKey, verb))
}

// ProxyAttributes are what pull or push through a Connector is, to RBAC.
func ProxyAttributes(connectorKey types.NamespacedName, verb connector.Verb) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{
		Namespace:   connectorKey.Namespace,
		Verb:        string(verb),
		Group:       connector.GroupName,
		Resource:    "connectors",
		Subresource: connector.ProxySubresource,
		Name:        connectorKey.Name,
	}
}

// GrantPull is the command that lets namespace/serviceAccount pull through
// the Connector: what a refusal tells the user to run.
func GrantPull(namespace, serviceAccount string, connectorKey types.NamespacedName) string {
	return fmt.Sprintf("kubectl create rolebinding pull-%s-%s-%s -n %s --clusterrole=%s --serviceaccount=%s:%s",
		connectorKey.Name, namespace, serviceAccount, connectorKey.Namespace, connector.PullerClusterRole, namespace, serviceAccount)
}
