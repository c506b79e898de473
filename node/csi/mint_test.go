package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"

	"github.com/oci-connector/oci-connector/pkg/access"
	apiconfig "github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// A proxy served over TLS with a private CA: the volume holds ca.crt, and
// buildkitd.toml and hosts.toml name it where the pod mounts the volume;
// without mountPath the volume is refused, saying to set it. The token is
// asked for the Connector's audience, bound to the pod, for the driver's
// lifetime, and renewal is due at 80% of it.
func TestAPrivateCAGoesIntoTheVolume(t *testing.T) {
	c := ctesting.NewConnector("team-a", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.example.com"))
	c.Status.URL = &apis.URL{Scheme: "https", Host: "c-harbor.example.com"}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := indexer.Add(c); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(ktesting.Action) (bool, runtime.Object, error) {
		return true, &authorizationv1.SubjectAccessReview{Status: authorizationv1.SubjectAccessReviewStatus{Allowed: true}}, nil
	})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var asked *authenticationv1.TokenRequest
	kube.PrependReactor("create", "serviceaccounts", func(a ktesting.Action) (bool, runtime.Object, error) {
		asked = a.(ktesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		out := asked.DeepCopy()
		out.Status = authenticationv1.TokenRequestStatus{Token: "POD-TOKEN", ExpirationTimestamp: metav1.NewTime(now.Add(time.Hour))}
		return true, out, nil
	})
	m := &minter{
		kube: kube, connectors: connectorlisters.NewConnectorLister(indexer), config: apiconfig.NewStore(zap.NewNop().Sugar()),
		reviewer: access.NewUncachedReviewer(kube.AuthorizationV1().SubjectAccessReviews()), clock: clocktesting.NewFakeClock(now), tokenTTL: time.Hour,
		caPEM: []byte(testCA),
	}
	v := volumeRequest{
		Pod:            podInfo{Namespace: "team-a", Name: "build-1", UID: types.UID("uid-1"), ServiceAccount: "builder"},
		Connector:      types.NamespacedName{Namespace: "team-a", Name: "harbor"},
		Configurations: []clientconfig.Configuration{clientconfig.BuildkitdName, clientconfig.ContainerdHostsName, clientconfig.DockerConfigName},
	}
	if _, err := m.render(context.Background(), v); err == nil || !strings.Contains(err.Error(), "set volumeAttributes.mountPath") {
		t.Fatalf("without mountPath: %v", err)
	}

	v.MountPath = "/etc/buildkit"
	r, err := m.render(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.files["ca.crt"]) != testCA {
		t.Errorf("ca.crt is %q", r.files["ca.crt"])
	}
	if !strings.Contains(string(r.files["buildkitd.toml"]), `ca = ["/etc/buildkit/ca.crt"]`) ||
		!strings.Contains(string(r.files["c-harbor.example.com/hosts.toml"]), `ca = "/etc/buildkit/ca.crt"`) {
		t.Errorf("the files do not name the CA:\n%s\n%s", r.files["buildkitd.toml"], r.files["c-harbor.example.com/hosts.toml"])
	}
	if !strings.Contains(string(r.files["config.json"]), "POD-TOKEN") {
		t.Errorf("config.json lacks the pod's token: %s", r.files["config.json"])
	}
	spec := asked.Spec
	if len(spec.Audiences) != 1 || spec.Audiences[0] != c.Audience() || spec.BoundObjectRef == nil ||
		spec.BoundObjectRef.Kind != "Pod" || spec.BoundObjectRef.Name != "build-1" || spec.BoundObjectRef.UID != "uid-1" ||
		spec.ExpirationSeconds == nil || *spec.ExpirationSeconds != 3600 {
		t.Errorf("token asked as %+v", spec)
	}
	if want := now.Add(48 * time.Minute); !r.renewAt.Equal(want) {
		t.Errorf("renewal at %v, want %v", r.renewAt, want)
	}
}
