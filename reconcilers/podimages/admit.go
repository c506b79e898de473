package podimages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

var _ webhook.AdmissionController = (*reconciler)(nil)

// Path implements webhook.AdmissionController.
func (r *reconciler) Path() string { return Path }

// Admit rewrites the images of an opted-in pod when it is created, and of
// the ephemeral containers added to one later. It refuses a pod that names a
// Connector that is missing or not Ready, whose images match several
// Connectors, or whose ServiceAccount may not pull through the Connector.
func (r *reconciler) Admit(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	ctx = r.config.ToContext(ctx)
	ephemeral := false
	switch {
	case req.Kind.Group != "" || req.Kind.Kind != "Pod":
		return allow()
	case req.Operation == admissionv1.Create && req.SubResource == "":
	case req.Operation == admissionv1.Update && req.SubResource == "ephemeralcontainers":
		ephemeral = true
	default:
		return allow()
	}

	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return refuse(metav1.StatusReasonBadRequest, http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	if !optedIn(pod.Labels) {
		return allow()
	}

	rewrites, err := r.plan(ctx, req.Namespace, &pod, ephemeral)
	var denied *deniedError
	switch {
	case errors.As(err, &denied):
		return refuse(metav1.StatusReasonForbidden, http.StatusForbidden, err)
	case err != nil:
		logging.FromContext(ctx).Errorw("Failed to plan image rewrites", zap.Error(err))
		return refuse(metav1.StatusReasonInternalError, http.StatusInternalServerError, err)
	}
	if len(rewrites) == 0 {
		return allow()
	}
	patch, err := makePatch(&pod, rewrites, !ephemeral)
	if err != nil {
		return refuse(metav1.StatusReasonInternalError, http.StatusInternalServerError, err)
	}
	patchType := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &patchType}
}

func optedIn(labels map[string]string) bool {
	return labels[connector.InjectLabel] == "true" || labels[connector.CompatInjectLabel] == "true"
}

func allow() *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func refuse(reason metav1.StatusReason, code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reason,
			Message: err.Error(),
		},
	}
}
