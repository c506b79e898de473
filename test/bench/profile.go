package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// The runtime's own account (heap?debug=1 ends with MemStats): what of
	// the resident memory is heap, stacks or the runtime's bookkeeping.
	if resp, err := http.Get(base + "heap?debug=1"); err == nil {
		var stats []string
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			for _, k := range []string{"Sys", "HeapAlloc", "HeapInuse", "HeapReleased", "Stack", "NextGC"} {
				if v, ok := strings.CutPrefix(sc.Text(), "# "+k+" = "); ok {
					inUse, _, _ := strings.Cut(v, " / ") // Stack is "in use / from the OS"
					stats = append(stats, fmt.Sprintf("%s %.1f MiB", k, mustFloat(inUse)/mib))
				}
			}
		}
		resp.Body.Close()
		log.Printf("proxy memory: %s", strings.Join(stats, ", "))
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

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f
}
