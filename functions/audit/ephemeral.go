package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ephemeralStore says why the SQLite file at path dies with the pod, or ""
// when it does not seem to: it sits on a Kubernetes emptyDir, or on a
// tmpfs. It reads the mount table the file's directory is on
// (/proc/self/mountinfo), so the install need not say.
func ephemeralStore(path string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return ""
	}
	return ephemeralMount(f, dir)
}

// ephemeralMount reads a mountinfo table and judges the mount that holds
// dir: the one with the longest mount point above it.
func ephemeralMount(mountinfo io.Reader, dir string) string {
	var best, root, fstype string
	s := bufio.NewScanner(mountinfo)
	for s.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		fields := strings.Fields(s.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		point := fields[4]
		if !within(dir, point) || len(point) < len(best) {
			continue
		}
		best, root, fstype = point, fields[3], fields[sep+1]
	}
	switch {
	case best == "":
		return ""
	case strings.Contains(root, "kubernetes.io~empty-dir"):
		return "an emptyDir volume"
	case fstype == "tmpfs":
		return "a tmpfs"
	}
	return ""
}

func within(dir, mountPoint string) bool {
	return mountPoint == "/" || dir == mountPoint || strings.HasPrefix(dir, mountPoint+"/")
}
