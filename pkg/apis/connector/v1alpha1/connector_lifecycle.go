package v1alpha1

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

const (
	// ConditionReady is true when the proxy can serve pulls and pushes.
	ConditionReady = apis.ConditionReady
	// ConditionSecretResolved is true when the credentials Secret was read.
	ConditionSecretResolved apis.ConditionType = "SecretResolved"
	// ConditionUpstreamAuthenticated is true when the upstream accepted the credentials.
	ConditionUpstreamAuthenticated apis.ConditionType = "UpstreamAuthenticated"
	// ConditionProxyReady is true when the proxy's Knative Service is Ready.
	ConditionProxyReady apis.ConditionType = "ProxyReady"
	// ConditionRequestTimeout is true when the proxy may stream one request
	// for as long as the controller asks (an hour by default). It does not
	// gate Ready: a lower cap only cuts off the largest layers.
	ConditionRequestTimeout apis.ConditionType = "RequestTimeout"
	// ConditionPullSecretsScope is set, False, when pullSecrets select
	// namespaces the Connector may not serve (it is not, or no longer, a
	// cluster Connector); absent otherwise. It does not gate Ready: the
	// Connector's own namespace is still served.
	ConditionPullSecretsScope apis.ConditionType = "PullSecretsScope"
	// ConditionCacheReady is set when spec.cache is: True when the cache's
	// storage works (for s3, the controller wrote and read back a probe
	// object with the Secret's keys). It does not gate Ready: without its
	// cache the proxy serves from the upstream.
	ConditionCacheReady apis.ConditionType = "CacheReady"
)

// Reasons a condition is not true, for users and for tests.
const (
	ReasonSecretNotFound        = "SecretNotFound"
	ReasonSecretKeyMissing      = "SecretKeyMissing"
	ReasonUnreachable           = "Unreachable"
	ReasonAddressNotAllowed     = "AddressNotAllowed"
	ReasonTLSError              = "TLSError"
	ReasonUnauthorized          = "Unauthorized"
	ReasonRepositoryNotFound    = "RepositoryNotFound"
	ReasonUpstreamError         = "UpstreamError"
	ReasonServiceNotOwned       = "ServiceNotOwned"
	ReasonServiceNotReady       = "ServiceNotReady"
	ReasonServiceFailed         = "ServiceFailed"
	ReasonLimitedByKnative      = "LimitedByKnative"
	ReasonNotAClusterConnector  = "NotAClusterConnector"
	ReasonCacheSecretNotFound   = "CacheSecretNotFound"
	ReasonCacheSecretKeyMissing = "CacheSecretKeyMissing"
	ReasonCacheUnavailable      = "CacheUnavailable"
)

var connectorCondSet = apis.NewLivingConditionSet(
	ConditionSecretResolved,
	ConditionUpstreamAuthenticated,
	ConditionProxyReady,
)

// GetConditionSet returns the conditions that make a Connector Ready.
func (*Connector) GetConditionSet() apis.ConditionSet {
	return connectorCondSet
}

// GetCondition returns the condition of type t, or nil.
func (s *ConnectorStatus) GetCondition(t apis.ConditionType) *apis.Condition {
	return connectorCondSet.Manage(s).GetCondition(t)
}

// IsReady says whether the Connector is Ready.
func (s *ConnectorStatus) IsReady() bool {
	return connectorCondSet.Manage(s).IsHappy()
}

// InitializeConditions sets every unset condition to Unknown.
func (s *ConnectorStatus) InitializeConditions() {
	connectorCondSet.Manage(s).InitializeConditions()
}

// MarkSecretResolved records that the credentials were read.
func (s *ConnectorStatus) MarkSecretResolved() {
	connectorCondSet.Manage(s).MarkTrue(ConditionSecretResolved)
}

// MarkSecretNotResolved records why the credentials could not be read.
func (s *ConnectorStatus) MarkSecretNotResolved(reason, messageFormat string, messageA ...interface{}) {
	connectorCondSet.Manage(s).MarkFalse(ConditionSecretResolved, reason, messageFormat, messageA...)
}

// MarkUpstreamAuthenticated records that the upstream accepted the credentials.
func (s *ConnectorStatus) MarkUpstreamAuthenticated() {
	connectorCondSet.Manage(s).MarkTrue(ConditionUpstreamAuthenticated)
}

// MarkUpstreamNotAuthenticated records why the upstream check failed.
func (s *ConnectorStatus) MarkUpstreamNotAuthenticated(reason, messageFormat string, messageA ...interface{}) {
	connectorCondSet.Manage(s).MarkFalse(ConditionUpstreamAuthenticated, reason, messageFormat, messageA...)
}

// MarkProxyNotOwned records that a Service of the proxy's name belongs to someone else.
func (s *ConnectorStatus) MarkProxyNotOwned(name string) {
	connectorCondSet.Manage(s).MarkFalse(ConditionProxyReady, ReasonServiceNotOwned,
		"There is an existing Service %q that this Connector does not own; delete or rename it.", name)
}

// PropagateServiceStatus copies the proxy Service's readiness and addresses.
func (s *ConnectorStatus) PropagateServiceStatus(ksvc *servingv1.Service) {
	s.URL = ksvc.Status.URL
	s.Address = ksvc.Status.Address.DeepCopy()

	if ksvc.Generation != ksvc.Status.ObservedGeneration {
		connectorCondSet.Manage(s).MarkUnknown(ConditionProxyReady, ReasonServiceNotReady,
			"Service %q has not yet observed generation %d.", ksvc.Name, ksvc.Generation)
		return
	}
	ready := ksvc.Status.GetCondition(apis.ConditionReady)
	switch {
	case ready == nil:
		connectorCondSet.Manage(s).MarkUnknown(ConditionProxyReady, ReasonServiceNotReady,
			"Service %q has no Ready condition yet.", ksvc.Name)
	case ready.Status == corev1.ConditionTrue:
		connectorCondSet.Manage(s).MarkTrue(ConditionProxyReady)
	case ready.Status == corev1.ConditionFalse:
		connectorCondSet.Manage(s).MarkFalse(ConditionProxyReady, ReasonServiceFailed,
			"Service %q: %s: %s", ksvc.Name, ready.Reason, ready.Message)
	default:
		connectorCondSet.Manage(s).MarkUnknown(ConditionProxyReady, ReasonServiceNotReady,
			"Service %q: %s: %s", ksvc.Name, ready.Reason, ready.Message)
	}
}

// MarkRequestTimeoutGranted records that the proxy has the full request timeout.
func (s *ConnectorStatus) MarkRequestTimeoutGranted() {
	connectorCondSet.Manage(s).MarkTrue(ConditionRequestTimeout)
}

// MarkRequestTimeoutLimited records that Knative's max-revision-timeout-seconds
// holds the proxy's request timeout below want, and how to raise it.
func (s *ConnectorStatus) MarkRequestTimeoutLimited(servingNamespace string, got, want int64) {
	s.markWarning(ConditionRequestTimeout, ReasonLimitedByKnative,
		"Knative's max-revision-timeout-seconds is %d, so one pull or push through the proxy is cut off after %ds (%ds wanted, for large layers). "+
			`Raise it: kubectl patch configmap/config-defaults -n %s --type merge -p '{"data":{"max-revision-timeout-seconds":"%d"}}'`,
		got, got, want, servingNamespace, want)
}

// markWarning sets a condition that does not gate Ready False, as a warning.
func (s *ConnectorStatus) markWarning(t apis.ConditionType, reason, messageFormat string, args ...any) {
	connectorCondSet.Manage(s).SetCondition(apis.Condition{
		Type: t, Status: corev1.ConditionFalse, Severity: apis.ConditionSeverityWarning,
		Reason: reason, Message: fmt.Sprintf(messageFormat, args...),
	})
}

// MarkPullSecretsBeyondScope records that pullSecrets select other
// namespaces, which only cluster Connectors may serve.
func (s *ConnectorStatus) MarkPullSecretsBeyondScope(namespace string) {
	s.markWarning(ConditionPullSecretsScope, ReasonNotAClusterConnector,
		"pullSecrets.namespaceSelector reaches beyond namespace %s, which does not hold cluster Connectors "+
			"(config-oci-connector, cluster-connector-namespaces): pull secrets are kept in %s only", namespace, namespace)
}

// ClearPullSecretsScope removes the condition when the scope is fine.
func (s *ConnectorStatus) ClearPullSecretsScope() {
	_ = connectorCondSet.Manage(s).ClearCondition(ConditionPullSecretsScope)
}

// MarkCacheReady records that the cache's storage works.
func (s *ConnectorStatus) MarkCacheReady() {
	connectorCondSet.Manage(s).MarkTrue(ConditionCacheReady)
}

// MarkCacheNotReady records why the cache cannot be used: the proxy then
// serves from the upstream, so it is a warning, not a failure.
func (s *ConnectorStatus) MarkCacheNotReady(reason, messageFormat string, args ...any) {
	s.markWarning(ConditionCacheReady, reason, messageFormat, args...)
}

// ClearCacheReady removes the condition: there is no cache.
func (s *ConnectorStatus) ClearCacheReady() {
	_ = connectorCondSet.Manage(s).ClearCondition(ConditionCacheReady)
}
