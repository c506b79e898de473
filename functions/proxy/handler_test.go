package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clientgotesting "k8s.io/client-go/testing"

	"github.com/oci-connector/oci-connector/test/registry"
)

// fakeKube answers TokenReview for goodToken (may pull) and pushOnlyToken
// (may push, not pull), and any of extraGood,
// counting the calls so the caches can be checked.
func fakeKube(reviews, accessChecks *atomic.Int32, extraGood ...string) *fake.Clientset {
	client := fake.NewClientset()
	client.PrependReactor("create", "tokenreviews", func(a clientgotesting.Action) (bool, runtime.Object, error) {
		reviews.Add(1)
		tr := a.(clientgotesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		// As the API server: an answer names the audiences it was for.
		authenticated := func(user authenticationv1.UserInfo) authenticationv1.TokenReviewStatus {
			return authenticationv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: tr.Spec.Audiences}
		}
		switch {
		case tr.Spec.Token == goodToken:
			tr.Status = authenticated(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:app", UID: "u1"})
		case tr.Spec.Token == pushOnlyToken:
			tr.Status = authenticated(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:ci", UID: "u2"})
		case slices.ContainsFunc(extraGood, func(sub string) bool { return subjectOf(tr.Spec.Token) == sub }):
			tr.Status = authenticated(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:" + subjectOf(tr.Spec.Token)})
		}
		return true, tr, nil
	})
	client.PrependReactor("create", "subjectaccessreviews", func(a clientgotesting.Action) (bool, runtime.Object, error) {
		accessChecks.Add(1)
		sar := a.(clientgotesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		// goodToken's identity may pull only; pushOnlyToken's may push only.
		pushOnly := sar.Spec.User == "system:serviceaccount:ns:ci"
		sar.Status.Allowed = (sar.Spec.ResourceAttributes.Verb == "push") == pushOnly
		return true, sar, nil
	})
	return client
}

// Unit-level test of the whole handler, over a real registry, with the
// Kubernetes API faked: the caches spare the API server, refusals never reach
// the upstream, and the metrics record what happened.
func TestHandlerCachesRefusesEarlyAndCounts(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	var upstreamRequests atomic.Int32
	target, _ := url.Parse(reg.URL)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamRequests.Add(1)
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer counting.Close()

	reader := sdkmetric.NewManualReader()
	srv := newTestProxy(t, counting.URL, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	reviews, accessChecks := &srv.reviews, &srv.accessChecks

	get := func(method, path, token string) int { return srv.status(t, method, path, token) }
	manifest := "/v2/testing/busybox/manifests/latest"
	for i := 0; i < 5; i++ {
		if code := get("GET", manifest, goodToken); code != 200 {
			t.Fatalf("pull %d: %d", i, code)
		}
	}
	if reviews.Load() != 1 || accessChecks.Load() != 1 {
		t.Errorf("5 pulls made %d TokenReviews and %d SubjectAccessReviews, want 1 and 1", reviews.Load(), accessChecks.Load())
	}

	before := upstreamRequests.Load()
	for _, refused := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", manifest, "", 401},
		{"GET", manifest, badToken, 401},
		{"DELETE", manifest, goodToken, 403},
		{"GET", "/v2/Bad/manifests/latest", goodToken, 400},
	} {
		if code := get(refused.method, refused.path, refused.token); code != refused.want {
			t.Errorf("%s %s with %q: %d, want %d", refused.method, refused.path, refused.token, code, refused.want)
		}
	}
	if n := upstreamRequests.Load() - before; n != 0 {
		t.Errorf("refused requests reached the upstream %d times", n)
	}

	sums := metricSums(t, reader)
	for key, want := range map[string]int64{
		"oci_connector.proxy.requests|code=200,route=manifest,verb=pull": 5,
		"oci_connector.proxy.requests|code=401,route=manifest,verb=pull": 2, // the path parses before the token is checked
		"oci_connector.proxy.requests|code=403,route=manifest,verb=push": 1,
		"oci_connector.proxy.auth_cache.lookups|cache=token,result=hit":  6,
		"oci_connector.proxy.upstream.duration|route=manifest":           5,
	} {
		if sums[key] != want {
			t.Errorf("%s = %d, want %d (all: %v)", key, sums[key], want, sums)
		}
	}
	if sums["oci_connector.proxy.bytes|direction=to_client"] == 0 {
		t.Errorf("no bytes counted to the client: %v", sums)
	}
}

// metricSums collects reader's metrics: each counter's value and each
// histogram's count, by name and attributes.
func metricSums(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					sums[m.Name+"|"+attrs(dp.Attributes)] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					sums[m.Name+"|"+attrs(dp.Attributes)] += int64(dp.Count)
				}
			}
		}
	}
	return sums
}

func attrs(set attribute.Set) string {
	out := ""
	for i, kv := range set.ToSlice() {
		if i > 0 {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.String()
	}
	return out
}
