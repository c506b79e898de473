package connector

// The label and annotations by which pods use a Connector's proxy.
const (
	// InjectLabel set to "true" sends a pod to the image webhook; the
	// webhook configuration selects on it, so other pods never wait on it.
	InjectLabel = GroupName + "/inject"

	// ConnectorAnnotation names the Connector a pod pulls through, as
	// "<namespace>/<name>" (or "<name>" in the pod's namespace). Without it
	// each image goes through the Connector whose upstream is its registry.
	ConnectorAnnotation = GroupName + "/connector"

	// OriginalImagesAnnotation records, as a JSON object from container name
	// to image, what each rewritten container asked for.
	OriginalImagesAnnotation = GroupName + "/original-images"

	// CompatInjectLabel and CompatConnectorAnnotation are the OCI Connector
	// documents' spelling of InjectLabel and ConnectorAnnotation; manifests
	// written for them work unchanged.
	CompatInjectLabel         = "connectors.cpaas.io/proxy-inject"
	CompatConnectorAnnotation = "connectors.cpaas.io/connector"
)
