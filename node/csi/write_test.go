package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A second rendering replaces the files, removes those it no longer has
// (and the directories that leaves empty), and leaves no temporary file.
func TestWriteFilesReplaces(t *testing.T) {
	dir := t.TempDir()
	if err := writeFiles(dir, map[string][]byte{"config.json": []byte("old"), "h:5000/hosts.toml": []byte("h")}, ownership{}); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, map[string][]byte{"config.json": []byte("new")}, ownership{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if path != dir {
			rel, _ := filepath.Rel(dir, path)
			got = append(got, rel)
		}
		return err
	})
	if len(got) != 1 || got[0] != "config.json" {
		t.Errorf("files after the second rendering: %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != "new" {
		t.Errorf("config.json is %q", b)
	}
	if err := writeFiles(dir, map[string][]byte{"../escape": []byte("x")}, ownership{}); err == nil {
		t.Error("a file outside the volume was written")
	}
}

// With the pod's fsGroup, the files are the group's alone: 0440 in 0750
// directories, owned by root and the group.
func TestWriteFilesForAnFSGroup(t *testing.T) {
	dir := t.TempDir()
	own, err := ownershipFor("2345")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, map[string][]byte{"config.json": []byte("x"), "h:5000/hosts.toml": []byte("h")}, own); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"config.json": 0o440, "h:5000/hosts.toml": 0o440, "h:5000": 0o750 | os.ModeDir} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want || st.Gid != 2345 || st.Uid != 0 {
			t.Errorf("%s: mode %v uid %d gid %d; want %v, root, group 2345", name, fi.Mode(), st.Uid, st.Gid, want)
		}
	}
	if _, err := ownershipFor("staff"); err == nil {
		t.Error("a volume_mount_group that is not a number was taken")
	}
}
