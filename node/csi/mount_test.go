package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A bind mount on the filesystem of its parent is a mount point too: the
// driver must unmount it, where comparing devices would say it is none.
func TestIsMountPointSeesBindsOnOneFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting takes root (CI runs as root)")
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if mounted, err := isMountPoint(dst); err != nil || mounted {
		t.Fatalf("before the bind: mounted=%v err=%v", mounted, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dst, 0) //nolint:errcheck // unmountAll below does it
	if mounted, err := isMountPoint(dst); err != nil || !mounted {
		t.Fatalf("a bind on the same filesystem: mounted=%v err=%v", mounted, err)
	}
	if err := unmountAll(dst); err != nil {
		t.Fatal(err)
	}
	if mounted, err := isMountPoint(dst); err != nil || mounted {
		t.Errorf("after unmountAll: mounted=%v err=%v", mounted, err)
	}
	if _, err := isMountPoint(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
		t.Errorf("a missing directory: %v, want not-exist", err)
	}
}
