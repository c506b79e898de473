// Package v1alpha1 is the v1alpha1 version of the oci-connector.dev API.
// +k8s:deepcopy-gen=package
// +groupName=oci-connector.dev
// +groupGoName=Connector
package v1alpha1
