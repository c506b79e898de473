package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

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

// secretName is the pull secret of one ServiceAccount for one Connector:
// stable, so that writing it again replaces it, and short enough for any
// names.
func secretName(c *v1alpha1.Connector, serviceAccount string) string {
	sum := sha256.Sum256([]byte(c.Namespace + "/" + c.Name + "/" + serviceAccount))
	return "oci-connector-pull-" + hex.EncodeToString(sum[:8])
}

// connectorLabels select every pull secret of a Connector.
func connectorLabels(c *v1alpha1.Connector) map[string]string {
	return map[string]string{labelConnectorNamespace: c.Namespace, labelConnectorName: c.Name}
}

// ownerMark ties a pull secret to the Connector, the ServiceAccount (its
// UID: a ServiceAccount made again under the same name is another) and the
// Secret's own name.
func ownerMark(c *v1alpha1.Connector, sa *corev1.ServiceAccount, secret string) string {
	sum := sha256.Sum256([]byte(c.Namespace + "/" + c.Name + "|" + sa.Namespace + "/" + sa.Name + "|" + string(sa.UID) + "|" + secret))
	return hex.EncodeToString(sum[:16])
}

// ownedPullSecret says whether s is a pull secret tokenrefresh wrote for c:
// its name, its owner reference to the ServiceAccount and its mark agree.
// A Secret that merely carries the labels is not.
func ownedPullSecret(c *v1alpha1.Connector, s *corev1.Secret) bool {
	sa := s.Labels[labelServiceAccount]
	if sa == "" || s.Name != secretName(c, sa) {
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

// makePullSecret is the kubernetes.io/dockerconfigjson Secret that logs a
// ServiceAccount in to the Connector's proxy with token. The ServiceAccount
// owns it, so it goes when the ServiceAccount does.
func makePullSecret(c *v1alpha1.Connector, sa *corev1.ServiceAccount, token string, expires time.Time) (*corev1.Secret, error) {
	config, err := clientconfig.DockerConfig(clientconfig.Proxy{Endpoints: clientconfig.Endpoints(c), Token: token})
	if err != nil {
		return nil, fmt.Errorf("connector %s/%s: %w", c.Namespace, c.Name, err)
	}
	labels := connectorLabels(c)
	labels[labelServiceAccount] = sa.Name
	name := secretName(c, sa.Name)
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

// expiresAt reads a pull secret's expiry; zero when it has none.
func expiresAt(s *corev1.Secret) time.Time {
	t, _ := time.Parse(time.RFC3339, s.Annotations[annotationExpires])
	return t
}
