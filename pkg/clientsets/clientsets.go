// Package clientsets makes the generated clientsets (Kubernetes' and the
// Connector API's) for the functions that read and write objects:
// tokenrefresh and the CSI driver. The proxy and the audit function only ask
// questions (reviews.FromKubeconfig) and do not link them.
package clientsets

import (
	"k8s.io/client-go/kubernetes"

	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/pkg/kubeconfig"
)

// New connects to the API server as the kubeconfig at path says
// (in-cluster when empty), with client-side limits of qps calls a second in bursts of burst:
// client-go's default of 5 a second is for controllers that watch, not for
// functions that answer requests with API calls.
func New(path string, qps float32, burst int) (kubernetes.Interface, connectorclientset.Interface, error) {
	cfg, err := kubeconfig.Load(path)
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = qps, burst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	connectors, err := connectorclientset.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kube, connectors, nil
}
