// Package kubeconfig reads how a function reaches the API server. It
// builds no client: the proxy and the audit function make a narrow one
// (pkg/reviews), tokenrefresh and the CSI driver the clientsets
// (pkg/clientsets).
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Load reads the kubeconfig at path, or the pod's in-cluster configuration
// when path is empty (clientcmd falls back to it).
func Load(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("reading the Kubernetes configuration: %w", err)
	}
	return cfg, nil
}
