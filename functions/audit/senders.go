package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/ttlcache"
)

// Who may write to the audit trail: a sender presents a ServiceAccount
// token for events.AuditAudience; TokenReview says whose. An event about a
// Connector comes from that Connector's namespace (its proxy), or from the
// install namespace (the controller, tokenrefresh).
const (
	senderCacheTTL     = time.Minute
	senderCacheEntries = 10000
)

// senderAuth checks the senders of events.
type senderAuth struct {
	client          kubernetes.Interface
	systemNamespace string
	cache           *ttlcache.Cache[string]
}

func newSenderAuth(client kubernetes.Interface, systemNamespace string) *senderAuth {
	return &senderAuth{client: client, systemNamespace: systemNamespace, cache: ttlcache.New[string](senderCacheEntries)}
}

// senderError is a refusal with its HTTP status.
type senderError struct {
	status  int
	message string
}

func (e *senderError) Error() string { return e.message }

// check says whether r's sender may record e.
func (a *senderAuth) check(r *http.Request, e *cloudevents.Event) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return &senderError{http.StatusUnauthorized, "present a ServiceAccount token for the audience " + events.AuditAudience + " as a bearer token"}
	}
	namespace, err := a.senderNamespace(r.Context(), token)
	if err != nil {
		return err
	}
	about := eventNamespace(e)
	if namespace != a.systemNamespace && namespace != about {
		return &senderError{http.StatusForbidden, fmt.Sprintf("a sender in namespace %s may not record events about Connectors in %q", namespace, about)}
	}
	return nil
}

// senderNamespace is the namespace of the ServiceAccount token belongs to.
func (a *senderAuth) senderNamespace(ctx context.Context, token string) (string, error) {
	sum := sha256.Sum256([]byte(token))
	namespace, _, err := a.cache.Get(ctx, hex.EncodeToString(sum[:]), func(ctx context.Context) (string, time.Duration, error) {
		review, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{events.AuditAudience}},
		}, metav1.CreateOptions{})
		if err != nil {
			return "", 0, fmt.Errorf("TokenReview: %w", err)
		}
		if !review.Status.Authenticated {
			return "", senderCacheTTL, nil
		}
		parts := strings.Split(review.Status.User.Username, ":")
		if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
			return "", senderCacheTTL, nil
		}
		return parts[2], senderCacheTTL, nil
	})
	if err != nil {
		return "", &senderError{http.StatusServiceUnavailable, "cannot check the sender right now; retry"}
	}
	if namespace == "" {
		return "", &senderError{http.StatusUnauthorized, "the token is not a ServiceAccount's for the audience " + events.AuditAudience}
	}
	return namespace, nil
}

// eventNamespace is the namespace of the Connector an event is about: its
// data says so, and so must its source.
func eventNamespace(e *cloudevents.Event) string {
	var d struct {
		Namespace string `json:"namespace"`
	}
	_ = json.Unmarshal(e.Data(), &d)
	if e.Source() != events.Source(d.Namespace, sourceName(e.Source())) {
		return "" // data and source disagree: no namespace matches
	}
	return d.Namespace
}

// sourceName is the Connector name at the end of an event source.
func sourceName(source string) string {
	return source[strings.LastIndex(source, "/")+1:]
}
