package main

import (
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memoryUnderConcurrency pulls one blob concurrently through the proxy and
// reports the proxy's peak resident memory.
func (b *bench) memoryUnderConcurrency(digest string, concurrent int) {
	log.Printf("%d concurrent pulls through the proxy", concurrent)
	path := "/v2/" + benchRepo + "/blobs/" + digest
	peak := watchPeakRSS(b.proxy.Cmd.Process.Pid)
	var wg sync.WaitGroup
	for i := 0; i < concurrent; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.get("http://"+b.proxy.Host, path, "u", b.token, "")
		}()
	}
	wg.Wait()
	report("rss_mib_200x100mib", float64(peak())/mib)
}

// watchPeakRSS samples a process's resident memory every 10ms until the
// returned function is called; that function returns the peak.
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if rss := rssBytes(pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// rssBytes is a process's resident set size, from /proc.
func rssBytes(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
