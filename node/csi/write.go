package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ownership is who may read a volume's files: anyone on the node's view of
// the pod (files 0644), or, when the pod sets an fsGroup and the kubelet
// passes it as volume_mount_group, only that group (files 0440 and
// directories 0750, owned by root and the group). The token in config.json
// is the pod's own either way; the group keeps it from other users in the
// pod's containers.
type ownership struct {
	gid     int
	grouped bool
}

// ownershipFor reads the volume_mount_group the kubelet sent; empty for none.
func ownershipFor(volumeMountGroup string) (ownership, error) {
	if volumeMountGroup == "" {
		return ownership{}, nil
	}
	gid, err := strconv.Atoi(volumeMountGroup)
	if err != nil || gid < 0 {
		return ownership{}, fmt.Errorf("volume_mount_group %q is not a group ID", volumeMountGroup)
	}
	return ownership{gid: gid, grouped: true}, nil
}

// apply sets path's mode and, for a group, its owner.
func (o ownership) apply(path string, dir bool) error {
	mode := os.FileMode(0o644)
	switch {
	case dir && o.grouped:
		mode = 0o750
	case dir:
		mode = 0o755
	case o.grouped:
		mode = 0o440
	}
	if o.grouped {
		if err := os.Lchown(path, 0, o.gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, mode)
}

// writeFiles puts files into dir, each atomically: written to a temporary
// file beside it, then renamed over, so a reader sees the old file or the
// new, never half of one. Files of an earlier rendering that are not in
// this one are removed.
func writeFiles(dir string, files map[string][]byte, own ownership) error {
	for name, b := range files {
		path := filepath.Join(dir, name)
		if !strings.HasPrefix(path, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("file %q is outside the volume", name)
		}
		if err := mkdirsOwned(dir, filepath.Dir(path), own); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(b)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = own.apply(tmp.Name(), false)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return removeOthers(dir, files)
}

// mkdirsOwned makes path and the directories between root and it, each
// with own's mode and owner.
func mkdirsOwned(root, path string, own ownership) error {
	if path == filepath.Clean(root) {
		return nil
	}
	if err := mkdirsOwned(root, filepath.Dir(path), own); err != nil {
		return err
	}
	if err := os.Mkdir(path, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	return own.apply(path, true)
}

// removeOthers removes the files under dir that are not in keep, and the
// directories that leaves empty.
func removeOthers(dir string, keep map[string][]byte) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if _, ok := keep[filepath.ToSlash(rel)]; !ok {
			return os.Remove(path)
		}
		return nil
	})
	// Deepest first, so a parent is empty when its turn comes.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, as it should, when not empty
	}
	return err
}
