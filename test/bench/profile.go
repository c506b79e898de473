package main

import (
	"bufio"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// logHeapProfile logs where the proxy's memory is now: its goroutine count
// and the top of its heap profile by space in use.
func (b *bench) logHeapProfile() {
	base := "http://" + b.profiling + "/debug/pprof/"
	if resp, err := http.Get(base + "goroutine?debug=1"); err == nil {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		log.Printf("proxy %s", strings.TrimSpace(line))
	}
	resp, err := http.Get(base + "heap")
	if err != nil {
		log.Printf("no heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(b.r.TempDir(), "heap.pb.gz")
	f, err := os.Create(path)
	check(b.r, err)
	_, err = io.Copy(f, resp.Body)
	f.Close()
	check(b.r, err)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=12", path).CombinedOutput()
	if err != nil {
		log.Printf("go tool pprof: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		log.Printf("heap: %s", line)
	}
}
