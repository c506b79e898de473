package main

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/clientconfig"
)

// Volume attributes a pod sets, and the names seed 002's Job uses for them.
const (
	attrConnector          = "connector"           // <namespace>/<name>, or a name in the pod's namespace
	attrConfigurations     = "configurations"      // comma list of clientconfig names
	attrMountPath          = "mountPath"           // where the pod mounts the volume; needed only for a CA file
	seedAttrConnectors     = "connectors"          // seed: <namespace>/<name>
	seedAttrConnectorName  = "connector.name"      // seed: a name...
	seedAttrConnectorNS    = "connector.namespace" // ...in this namespace (the pod's by default)
	seedAttrConfigurations = "configuration.names" // seed: comma list
	// seedRegistryConfig is the seed's name for docker-config.
	seedRegistryConfig = "registry-config"
)

// What the kubelet adds (podInfoOnMount, tokenRequests, ephemeral volumes).
const (
	ctxPodName        = "csi.storage.k8s.io/pod.name"
	ctxPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	ctxPodUID         = "csi.storage.k8s.io/pod.uid"
	ctxServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	ctxTokens         = "csi.storage.k8s.io/serviceAccount.tokens"
	ctxEphemeral      = "csi.storage.k8s.io/ephemeral"
)

// podInfo is the pod the kubelet says the volume is for.
type podInfo struct {
	Namespace, Name, ServiceAccount string
	UID                             types.UID
}

// volumeRequest is a NodePublishVolume's volume context, read.
type volumeRequest struct {
	Pod            podInfo
	Connector      types.NamespacedName
	Configurations []clientconfig.Configuration
	// MountPath is where the pod mounts the volume; empty when not given.
	MountPath string
	// KubeletTokens are the tokens the kubelet minted for the pod, by audience.
	KubeletTokens map[string]kubeletToken
}

// kubeletToken is one entry of csi.storage.k8s.io/serviceAccount.tokens.
type kubeletToken struct {
	Token               string    `json:"token"`
	ExpirationTimestamp time.Time `json:"expirationTimestamp"`
}

// withSecretTokens is the volume context with the kubelet's tokens where
// parseVolumeContext reads them. With the CSIDriver's
// serviceAccountTokenInSecrets, the kubelet passes them in the request's
// secrets, which the CSI spec keeps out of logs, instead of the volume
// context; older kubelets still use the context.
func withSecretTokens(attrs, secrets map[string]string) map[string]string {
	tokens, ok := secrets[ctxTokens]
	if !ok {
		return attrs
	}
	merged := make(map[string]string, len(attrs)+1)
	for k, v := range attrs {
		merged[k] = v
	}
	merged[ctxTokens] = tokens
	return merged
}

// parseVolumeContext reads the attributes; its errors say what to fix in
// the pod's volume.
func parseVolumeContext(attrs map[string]string) (volumeRequest, error) {
	var v volumeRequest
	v.Pod = podInfo{
		Namespace:      attrs[ctxPodNamespace],
		Name:           attrs[ctxPodName],
		UID:            types.UID(attrs[ctxPodUID]),
		ServiceAccount: attrs[ctxServiceAccount],
	}
	if v.Pod.Namespace == "" || v.Pod.Name == "" || v.Pod.UID == "" || v.Pod.ServiceAccount == "" {
		return v, fmt.Errorf("the kubelet sent no pod information: the CSIDriver %s must have podInfoOnMount: true", driverName)
	}
	if attrs[ctxEphemeral] != "true" {
		return v, fmt.Errorf("only inline ephemeral volumes are served: use a csi volume in the pod spec, not a PersistentVolume")
	}
	var err error
	if v.Connector, err = connectorKey(attrs, v.Pod.Namespace); err != nil {
		return v, err
	}
	if v.Configurations, err = configurations(attrs); err != nil {
		return v, err
	}
	if mp := attrs[attrMountPath]; mp != "" {
		if !path.IsAbs(mp) {
			return v, fmt.Errorf("volumeAttributes.%s %q is not an absolute path", attrMountPath, mp)
		}
		v.MountPath = path.Clean(mp)
	}
	if raw := attrs[ctxTokens]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &v.KubeletTokens); err != nil {
			return v, fmt.Errorf("the kubelet's %s is not JSON: %w", ctxTokens, err)
		}
	}
	return v, nil
}

// connectorKey reads the Connector from either naming; a bare name is in
// the pod's namespace.
func connectorKey(attrs map[string]string, podNamespace string) (types.NamespacedName, error) {
	ref := attrs[attrConnector]
	if ref == "" {
		ref = attrs[seedAttrConnectors]
	}
	if ref == "" && attrs[seedAttrConnectorName] != "" {
		ref = attrs[seedAttrConnectorName]
		if ns := attrs[seedAttrConnectorNS]; ns != "" {
			ref = ns + "/" + ref
		}
	}
	if ref == "" {
		return types.NamespacedName{}, fmt.Errorf("volumeAttributes.%s is required: <namespace>/<name>, or a Connector name in the pod's namespace", attrConnector)
	}
	ns, name, found := strings.Cut(strings.TrimSpace(ref), "/")
	if !found {
		ns, name = podNamespace, ns
	}
	if ns == "" || name == "" || strings.ContainsAny(name, "/,") {
		return types.NamespacedName{}, fmt.Errorf("volumeAttributes.%s %q is not <namespace>/<name> or a name: one Connector per volume", attrConnector, ref)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// configurations reads the comma list; the seed's registry-config is
// docker-config. An unknown name is refused, naming the known ones.
func configurations(attrs map[string]string) ([]clientconfig.Configuration, error) {
	raw := attrs[attrConfigurations]
	if raw == "" {
		raw = attrs[seedAttrConfigurations]
	}
	var out []clientconfig.Configuration
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == seedRegistryConfig {
			n = string(clientconfig.DockerConfigName)
		}
		c := clientconfig.Configuration(n)
		if !clientconfig.Known(c) {
			return nil, fmt.Errorf("volumeAttributes.%s: unknown configuration %q; known: %s", attrConfigurations, n, strings.Join(clientconfig.Names(), ", "))
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("volumeAttributes.%s is required: a comma list of %s", attrConfigurations, strings.Join(clientconfig.Names(), ", "))
	}
	return out, nil
}
