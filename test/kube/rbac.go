package kube

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/test/harness"
)

// BindClusterRole binds a ClusterRole to saNamespace/serviceAccount (made if
// missing): cluster-wide when inNamespace is empty, else with a RoleBinding
// in inNamespace. Binding twice is fine.
func (c *Cluster) BindClusterRole(t harness.T, saNamespace, serviceAccount, role, inNamespace string) {
	t.Helper()
	c.EnsureServiceAccount(t, saNamespace, serviceAccount)
	ctx := context.Background()
	meta := metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%s", role, saNamespace, serviceAccount)}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: serviceAccount, Namespace: saNamespace}}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	var err error
	if inNamespace == "" {
		_, err = c.Client.RbacV1().ClusterRoleBindings().Create(ctx,
			&rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: roleRef}, metav1.CreateOptions{})
	} else {
		c.EnsureNamespace(t, inNamespace)
		_, err = c.Client.RbacV1().RoleBindings(inNamespace).Create(ctx,
			&rbacv1.RoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: roleRef}, metav1.CreateOptions{})
	}
	if err != nil && !apierrs.IsAlreadyExists(err) {
		t.Fatalf("binding %s to %s/%s: %v", role, saNamespace, serviceAccount, err)
	}
}
