package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// pullOnce GETs path through base with the token and says what went wrong,
// if anything: an error, another status than 200, or a short body.
func pullOnce(client *http.Client, base, path, token string, size int64) error {
	req, _ := http.NewRequest("GET", base+path, nil)
	req.SetBasicAuth("u", token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s", resp.Status)
	case size >= 0 && n != size:
		return fmt.Errorf("%d of %d bytes", n, size)
	}
	return nil
}

// concurrentPulls pulls a blob of size through the proxy n at once and
// reports the pulls that failed and the proxy's peak resident memory.
func (b *bench) concurrentPulls(n int, size int64) {
	digest := b.uploadBlob(size)
	log.Printf("%d concurrent pulls of %d MiB through the proxy", n, size/mib)
	path := "/v2/" + benchRepo + "/blobs/" + digest
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
	peak := watchPeakRSS(b.proxy.Cmd.Process.Pid)
	var failed, done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	var profiled sync.WaitGroup
	profiled.Add(1)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pullOnce(client, "http://"+b.proxy.Host, path, b.token, size); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			// When the first pull is done, the others are all in flight:
			// the moment to see where the proxy's memory is.
			if done.Add(1) == 1 {
				go func() { defer profiled.Done(); b.logHeapProfile() }()
			}
		}()
	}
	wg.Wait()
	profiled.Wait()
	if e := firstErr.Load(); e != nil {
		log.Printf("first failure: %s", e)
	}
	report(fmt.Sprintf("pulls_%d_errors", n), float64(failed.Load()))
	report(fmt.Sprintf("rss_mib_%dx%dmib", n, size/mib), float64(peak())/mib)
}

// steadyPulls pulls the seed manifest through the proxy in a loop from
// workers goroutines until stop is closed, calling seen with each result.
func steadyPulls(base, user, password string, workers int, stop <-chan struct{}, seen func(time.Time, time.Duration, error)) *sync.WaitGroup {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	path := "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				req, _ := http.NewRequest("GET", base+path, nil)
				req.SetBasicAuth(user, password)
				req.Header.Set("Accept", manifestOK)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				seen(start, time.Since(start), err)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return &wg
}

// rotationUnderLoad rotates the upstream password `rotations` times during
// d of steady pulls, as the README says to rotate it (the Secret first,
// then the registry a second later), and reports the pulls that failed.
func (b *bench) rotationUnderLoad(rotations int, d time.Duration) {
	log.Printf("%d password rotations during %s of steady pulls", rotations, d)
	reg := registry.NewHtpasswd(b.r)
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: reg.URL, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"), Secret: registry.SecretData(),
	})
	var pulls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	wg := steadyPulls("http://"+p.Host, "u", b.token, 4, stop, func(_ time.Time, _ time.Duration, err error) {
		pulls.Add(1)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	})
	interval := d / time.Duration(rotations+1)
	for i := range rotations {
		time.Sleep(interval - time.Second)
		password := fmt.Sprintf("rotated-%d", i)
		proxyproc.WriteSecretVolume(b.r, p.CredentialsDir, map[string]string{"username": registry.Username, "password": password})
		time.Sleep(time.Second)
		reg.RotatePassword(b.r, password)
	}
	time.Sleep(interval)
	close(stop)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		log.Printf("first failure: %s", e)
	}
	log.Printf("%d pulls during the rotations", pulls.Load())
	report("rotation_failed_pulls", float64(failed.Load()))
}

// upstreamOutage takes the upstream away for outage during steady pulls
// (a relay in front of it stops and drops every connection) and brings it
// back. It reports how long after the upstream's return pulls succeeded
// again, and the slowest failed pull: clients must be answered promptly,
// not left hanging.
func (b *bench) upstreamOutage(outage time.Duration) {
	log.Printf("the upstream away for %s during steady pulls", outage)
	gate := harness.StartGate(b.r, b.reg.Host, harness.GateOptions{})
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: "http://" + gate.Addr, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"), Secret: registry.SecretData(),
	})
	// The same steady pulls, straight at the upstream (through the same
	// gate), are the reference: what any client sees of the outage.
	proxied, direct := &outageWatch{}, &outageWatch{}
	stop := make(chan struct{})
	wgProxy := steadyPulls("http://"+p.Host, "u", b.token, 4, stop, proxied.seen)
	wgDirect := steadyPulls("http://"+gate.Addr, registry.Username, registry.Password, 4, stop, direct.seen)
	time.Sleep(2 * time.Second)
	gate.Down()
	time.Sleep(outage)
	gate.Up(b.r)
	back := time.Now()
	proxied.upAt(back)
	direct.upAt(back)
	for deadline := time.Now().Add(30 * time.Second); !(proxied.done() && direct.done()) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wgProxy.Wait()
	wgDirect.Wait()
	if !proxied.done() || !direct.done() {
		b.r.Fatalf("no pull succeeded within 30s of the upstream's return (through the proxy: %v, direct: %v)", proxied.done(), direct.done())
	}
	log.Printf("through the proxy: %d pulls failed during the outage, the slowest after %s, served again %s after the upstream's return; direct: %d, %s, %s",
		proxied.failures, proxied.slowestFailure, proxied.recovered, direct.failures, direct.slowestFailure, direct.recovered)
	report("upstream_outage_recovery_vs_direct", proxied.recovered.Seconds()/direct.recovered.Seconds())
	report("upstream_outage_slowest_failure_vs_direct", proxied.slowestFailure.Seconds()/direct.slowestFailure.Seconds())
}

// outageWatch follows steady pulls across an outage: how they failed while
// it lasted, and how soon one started after the upstream came back
// succeeded.
type outageWatch struct {
	mu             sync.Mutex
	back           time.Time
	recovered      time.Duration
	slowestFailure time.Duration
	failures       int
}

func (o *outageWatch) seen(start time.Time, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failures++
		o.slowestFailure = max(o.slowestFailure, took)
		return
	}
	if !o.back.IsZero() && o.recovered == 0 && start.After(o.back) {
		o.recovered = time.Since(o.back)
	}
}

func (o *outageWatch) upAt(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.back = t
}

func (o *outageWatch) done() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recovered != 0
}
