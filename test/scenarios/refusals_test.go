package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
)

// Refusals on the real node. A pod whose ServiceAccount may not pull
// through the Connector is refused at admission, saying how to grant it. A
// pod that goes around the webhook (no label, the proxy's host spelled
// out) gets no image: the kubelet's event says 401, and the refusal is on
// the audit trail: the installed audit function's Knative Service, which
// the Connector names as its sink and the test reads through Traefik.
func TestRefusalsOnTheRealNode(t *testing.T) {
	ns := "refusals"
	cluster.EnsureServiceAccount(t, ns, "nobody")
	proxy := startConnector(t, ns, "harbor", func(s *v1alpha1.ConnectorSpec) {
		s.Sink = &duckv1.Destination{URI: apis.HTTP(auditHost)}
	})

	t.Run("no RBAC is refused at admission", func(t *testing.T) {
		_, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "labelled", Labels: map[string]string{connectorapi.CompatInjectLabel: "true"},
				Annotations: map[string]string{connectorapi.CompatConnectorAnnotation: ns + "/harbor"}},
			Spec: corev1.PodSpec{ServiceAccountName: "nobody", Containers: []corev1.Container{{Name: "app", Image: upstream.Host + "/" + appRepository}}},
		}, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "ServiceAccount refusals/nobody may not pull through Connector refusals/harbor") {
			t.Fatalf("creating the pod: %v", err)
		}
	})

	t.Run("going around admission gets no image, on the record", func(t *testing.T) {
		runPod(t, ns, "around", "nobody", proxy.Host+"/"+appRepository)
		if msg := waitPullRefused(t, ns, "around"); !strings.Contains(msg, "401 Unauthorized") {
			t.Errorf("the kubelet says: %s", msg)
		}
		waitFor(t, "the pod's event naming the refusal", func(ctx context.Context) (bool, string) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=around"})
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, e := range evs.Items {
				if e.Reason == "Failed" && strings.Contains(e.Message, "401 Unauthorized") {
					return true, ""
				}
				seen = append(seen, e.Reason+": "+e.Message)
			}
			return false, strings.Join(seen, "\n")
		})
		reader := cluster.Token(t, connectorapi.SystemNamespace, "audit-reader", "", time.Hour)
		cluster.BindClusterRole(t, connectorapi.SystemNamespace, "audit-reader", "oci-connector-audit-reader", "")
		waitFor(t, "an access.denied row for the pull", func(ctx context.Context) (bool, string) {
			rows, err := auditRows(ctx, reader, url.Values{"type": {events.AccessDenied}, "namespace": {ns}})
			if err != nil {
				return false, err.Error()
			}
			for _, r := range rows {
				if r.Reason == events.ReasonNoToken && r.Repository == "team/app" && r.Connector == "harbor" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", rows)
		})
	})
}

// auditRow is what GET /events returns of one event.
type auditRow struct {
	Type, Subject, Identity, Outcome, Reason, Repository, Namespace, Connector string
}

// auditHost is the installed audit function's Knative Service.
const auditHost = "audit." + connectorapi.SystemNamespace + ".svc.cluster.local"

func auditRows(ctx context.Context, token string, query url.Values) ([]auditRow, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+auditHost+"/events?"+query.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /events: %s", resp.Status)
	}
	var page struct{ Events []auditRow }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	return page.Events, nil
}
