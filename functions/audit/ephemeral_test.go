package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// A kubelet's emptyDir and a tmpfs are ephemeral; a PersistentVolumeClaim's
// mount and the container's root are not.
func TestEphemeralMount(t *testing.T) {
	table := strings.Join([]string{
		`100 90 0:50 / / rw,relatime - overlay overlay rw`,
		`101 100 8:1 /var/lib/kubelet/pods/1234/volumes/kubernetes.io~empty-dir/data /data rw,relatime - ext4 /dev/sda1 rw`,
		`102 100 8:1 /var/lib/kubelet/pods/1234/volumes/kubernetes.io~csi/pvc-1/mount /pvc rw,relatime - ext4 /dev/sdb rw`,
		`103 100 0:60 / /scratch rw,relatime - tmpfs tmpfs rw`,
	}, "\n")
	for dir, want := range map[string]string{
		"/data":        "an emptyDir volume",
		"/data/sub":    "an emptyDir volume",
		"/pvc":         "",
		"/scratch":     "a tmpfs",
		"/work":        "",
		"/datastore/x": "",
	} {
		if got := ephemeralMount(strings.NewReader(table), dir); got != want {
			t.Errorf("%s: %q, want %q", dir, got, want)
		}
	}
}

// An ephemeral store is said on the page, to everyone, logged in or not.
func TestThePageSaysWhenTheTrailIsEphemeral(t *testing.T) {
	for _, ephemeral := range []string{"", "an emptyDir volume"} {
		s := &server{ephemeral: ephemeral}
		rec := httptest.NewRecorder()
		s.renderPage(rec, pageData{Types: eventTypes, Ephemeral: s.ephemeral})
		shown := strings.Contains(rec.Body.String(), `id="ephemeral"`)
		if shown != (ephemeral != "") {
			t.Errorf("store on %q: banner shown=%v", ephemeral, shown)
		}
	}
}
