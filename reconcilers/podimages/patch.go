package podimages

import (
	"encoding/json"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// container is one container's image and where it sits in the pod.
type container struct {
	field string // JSON pointer to the image
	name  string
	image string
}

// containersOf lists the images the webhook may rewrite: at creation the
// init containers and containers; through the ephemeralcontainers
// subresource the ephemeral containers, the only ones it may change.
func containersOf(pod *corev1.Pod, ephemeral bool) []container {
	var out []container
	add := func(list string, i int, name, image string) {
		out = append(out, container{field: fmt.Sprintf("/spec/%s/%d/image", list, i), name: name, image: image})
	}
	if ephemeral {
		for i, c := range pod.Spec.EphemeralContainers {
			add("ephemeralContainers", i, c.Name, c.Image)
		}
		return out
	}
	for i, c := range pod.Spec.InitContainers {
		add("initContainers", i, c.Name, c.Image)
	}
	for i, c := range pod.Spec.Containers {
		add("containers", i, c.Name, c.Image)
	}
	return out
}

// makePatch replaces the images, and with recordOriginals adds each
// container's original image to the OriginalImagesAnnotation, keeping what
// it already records. (The ephemeralcontainers subresource cannot change
// annotations, so the originals of ephemeral containers are not recorded.)
func makePatch(pod *corev1.Pod, rewrites []rewrite, recordOriginals bool) ([]byte, error) {
	ops := make([]jsonpatch.Operation, 0, len(rewrites)+1)
	for _, rw := range rewrites {
		ops = append(ops, jsonpatch.NewOperation("replace", rw.field, rw.to))
	}
	if recordOriginals {
		originals := map[string]string{}
		if recorded, ok := pod.Annotations[connector.OriginalImagesAnnotation]; ok {
			if err := json.Unmarshal([]byte(recorded), &originals); err != nil {
				// A record that does not parse is replaced, not trusted.
				originals = map[string]string{}
			}
		}
		for _, rw := range rewrites {
			originals[rw.container] = rw.from
		}
		record, err := json.Marshal(originals)
		if err != nil {
			return nil, fmt.Errorf("encoding the original images: %w", err)
		}
		if pod.Annotations == nil {
			ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations",
				map[string]string{connector.OriginalImagesAnnotation: string(record)}))
		} else {
			ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations/"+escapePointer(connector.OriginalImagesAnnotation), string(record)))
		}
	}
	return json.Marshal(ops)
}

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
