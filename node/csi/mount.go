package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"k8s.io/mount-utils"
)

// A volume is a small tmpfs of the driver's, under its state directory,
// bind-mounted read-only onto the kubelet's target path. The driver keeps
// writing to its own mount when it renders again; the pod only reads.
// tmpfs keeps the token off the node's disks.

// volumeSizeBytes bounds a volume's tmpfs: the files are a few KiB.
const volumeSizeBytes = 1 << 20

// mountVolume makes staging a tmpfs and target its read-only view. It is
// idempotent: what is already mounted is kept.
func mountVolume(staging, target string) error {
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return err
	}
	if mounted, err := isMountPoint(staging); err != nil {
		return err
	} else if !mounted {
		opts := fmt.Sprintf("size=%d,mode=0755", volumeSizeBytes)
		if err := unix.Mount("tmpfs", staging, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
			return fmt.Errorf("mounting a tmpfs at %s: %w", staging, err)
		}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if mounted, err := isMountPoint(target); err != nil || mounted {
		return err
	}
	if err := unix.Mount(staging, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s at %s: %w", staging, target, err)
	}
	// A bind mount takes read-only only on a remount.
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		_ = unix.Unmount(target, 0)
		return fmt.Errorf("making %s read-only: %w", target, err)
	}
	return nil
}

// unmountVolume undoes mountVolume and removes both directories; what is
// already gone is fine.
func unmountVolume(staging, target string) error {
	for _, dir := range []string{target, staging} {
		if err := unmountAll(dir); err != nil {
			return err
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	return nil
}

func unmountAll(dir string) error {
	for {
		mounted, err := isMountPoint(dir)
		if err != nil || !mounted {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := unix.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmounting %s: %w", dir, err)
		}
	}
}

// isMountPoint says whether dir is the root of a mount, as the mount table
// says (k8s.io/mount-utils, as csi-driver-host-path asks): a bind mount on
// the same filesystem as its parent is one too, which comparing devices
// would miss. os.ErrNotExist when dir is not there.
func isMountPoint(dir string) (bool, error) {
	mounted, err := mounter.IsMountPoint(dir)
	if err != nil && os.IsNotExist(err) {
		return false, os.ErrNotExist
	}
	return mounted, err
}

// mounter reads the mount table; the driver mounts with unix.Mount itself.
var mounter = mount.New("")
