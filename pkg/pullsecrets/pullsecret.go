// Package pullsecrets is the one contract of a pull secret: its name, its
// labels, the mark that says tokenrefresh wrote it, its expiry, and the
// TokenRequest that fills it. tokenrefresh writes them, the controller
// schedules their renewal by them, and the CSI driver mints its pod tokens
// the same way.
package pullsecrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
)

// Short names for the pull secret's labels and annotation.
const (
	labelConnectorNamespace = connector.PullSecretConnectorNamespaceLabel
	labelConnectorName      = connector.PullSecretConnectorNameLabel
	labelServiceAccount     = connector.PullSecretServiceAccountLabel
	annotationExpires       = connector.PullSecretExpiresAnnotation
	annotationOwner         = connector.PullSecretOwnerAnnotation
)

// ConnectorOf names the Connector a pull secret is for, by its labels;
// false when it carries none.
func ConnectorOf(s *corev1.Secret) (namespace, name string, ok bool) {
	namespace, name = s.Labels[labelConnectorNamespace], s.Labels[labelConnectorName]
	return namespace, name, namespace != "" && name != ""
}

// ServiceAccountOf is the ServiceAccount a pull secret is for, by its
// label; empty when it carries none.
func ServiceAccountOf(s *corev1.Secret) string {
	return s.Labels[labelServiceAccount]
}

// Name is the pull secret of one ServiceAccount for one Connector: stable,
// so that writing it again replaces it, and short enough for any names.
func Name(c *v1alpha1.Connector, serviceAccount string) string {
	sum := sha256.Sum256([]byte(c.Namespace + "/" + c.Name + "/" + serviceAccount))
	return "oci-connector-pull-" + hex.EncodeToString(sum[:8])
}

// Labels select every pull secret of the Connector namespace/name.
func Labels(namespace, name string) map[string]string {
	return map[string]string{labelConnectorNamespace: namespace, labelConnectorName: name}
}

// ownerMark ties a pull secret to the Connector, the ServiceAccount (its
// UID: a ServiceAccount made again under the same name is another) and the
// Secret's own name.
func ownerMark(c *v1alpha1.Connector, sa *corev1.ServiceAccount, secret string) string {
	sum := sha256.Sum256([]byte(c.Namespace + "/" + c.Name + "|" + sa.Namespace + "/" + sa.Name + "|" + string(sa.UID) + "|" + secret))
	return hex.EncodeToString(sum[:16])
}

// Owned says whether s is a pull secret tokenrefresh wrote for c: its
// name, its owner reference to the ServiceAccount and its mark agree. A
// Secret that merely carries the labels is not.
func Owned(c *v1alpha1.Connector, s *corev1.Secret) bool {
	sa := s.Labels[labelServiceAccount]
	if sa == "" || s.Name != Name(c, sa) {
		return false
	}
	for _, ref := range s.OwnerReferences {
		if ref.APIVersion == "v1" && ref.Kind == "ServiceAccount" && ref.Name == sa {
			owner := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: sa, UID: ref.UID}}
			return s.Annotations[annotationOwner] == ownerMark(c, owner, s.Name)
		}
	}
	return false
}

// Make is the kubernetes.io/dockerconfigjson Secret that logs a
// ServiceAccount in to the Connector's proxy with token. The ServiceAccount
// owns it, so it goes when the ServiceAccount does.
func Make(c *v1alpha1.Connector, sa *corev1.ServiceAccount, token string, expires time.Time) (*corev1.Secret, error) {
	config, err := clientconfig.DockerConfig(clientconfig.Proxy{Endpoints: clientconfig.Endpoints(c), Token: token})
	if err != nil {
		return nil, fmt.Errorf("connector %s/%s: %w", c.Namespace, c.Name, err)
	}
	labels := Labels(c.Namespace, c.Name)
	labels[labelServiceAccount] = sa.Name
	name := Name(c, sa.Name)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: sa.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				annotationExpires: expires.UTC().Format(time.RFC3339),
				annotationOwner:   ownerMark(c, sa, name),
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ServiceAccount", Name: sa.Name, UID: sa.UID}},
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, nil
}

// ExpiresAt reads a pull secret's expiry; zero when it has none.
func ExpiresAt(s *corev1.Secret) time.Time {
	t, _ := time.Parse(time.RFC3339, s.Annotations[annotationExpires])
	return t
}

// ServiceAccountTokens creates tokens for the ServiceAccounts of one
// namespace (a clientset's CoreV1().ServiceAccounts(namespace)).
type ServiceAccountTokens interface {
	CreateToken(ctx context.Context, serviceAccountName string, tr *authenticationv1.TokenRequest, opts metav1.CreateOptions) (*authenticationv1.TokenRequest, error)
}

// Mint asks TokenRequest for a token of the ServiceAccount for the
// Connector c's own audience, never one its status or spec could claim,
// living ttl, and bound to bound when it is set. This is all the install
// mints, as config/200-tokenrequest-policy.yaml holds it to.
func Mint(ctx context.Context, tokens ServiceAccountTokens, serviceAccount string, c *v1alpha1.Connector, ttl time.Duration, bound *authenticationv1.BoundObjectReference) (token string, expires time.Time, err error) {
	seconds := int64(ttl / time.Second)
	tr, err := tokens.CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{c.Audience()},
		ExpirationSeconds: &seconds,
		BoundObjectRef:    bound,
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}
