package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A second rendering replaces the files, removes those it no longer has
// (and the directories that leaves empty), and leaves no temporary file.
func TestWriteFilesReplaces(t *testing.T) {
	dir := t.TempDir()
	if err := writeFiles(dir, map[string][]byte{"config.json": []byte("old"), "h:5000/hosts.toml": []byte("h")}); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, map[string][]byte{"config.json": []byte("new")}); err != nil {
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
	if err := writeFiles(dir, map[string][]byte{"../escape": []byte("x")}); err == nil {
		t.Error("a file outside the volume was written")
	}
}
