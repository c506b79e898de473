package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// unauthFlood pulls manifests with a valid token, one after another, while
// floodClients clients (each its own address, as an ingress in front would
// forward them: the proxy trusts one hop) send garbage tokens as fast as
// they can, for d. It reports the share
// of the legitimate pulls that succeeded with their image.pulled event
// delivered.
func (b *bench) unauthFlood(floodClients int, d time.Duration) {
	log.Printf("legitimate pulls beside %d clients sending garbage tokens, for %s", floodClients, d)
	var pulledEvents, deniedEvents atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, ok := events.ReceiveAll(w, r)
		if !ok {
			return
		}
		for _, e := range received {
			switch e.Type() {
			case events.ImagePulled:
				pulledEvents.Add(1)
			case events.AccessDenied:
				deniedEvents.Add(1)
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: b.reg.URL, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"),
		Secret:     registry.SecretData(), Args: []string{"--sink", sink.URL, "--forwarded-hops", "1"},
	})
	path := "http://" + p.Host + "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	pull := func(client, token string) int {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("X-Forwarded-For", client)
		req.Header.Set("Accept", manifestOK)
		req.SetBasicAuth("u", token)
		resp, err := b.client.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	stop := make(chan struct{})
	var flooded atomic.Int64
	var wg sync.WaitGroup
	for i := range floodClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				pull(client, fmt.Sprintf("garbage-%d-%d", i, n))
				flooded.Add(1)
			}
		}()
	}
	var attempts, ok int64
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		attempts++
		if pull("10.2.0.1", b.token) == http.StatusOK {
			ok++
		}
	}
	close(stop)
	wg.Wait()
	// The events of the last pulls may still be on their way.
	for wait := time.Now().Add(30 * time.Second); pulledEvents.Load() < ok && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	delivered := min(ok, pulledEvents.Load())
	log.Printf("%d legitimate pulls, %d served, %d image.pulled events delivered; %d garbage requests, %d access.denied events",
		attempts, ok, pulledEvents.Load(), flooded.Load(), deniedEvents.Load())
	report("unauth_flood_pulls_ok_ratio", float64(delivered)/float64(attempts))
}

// forgedFlood measures what forged tokens cost while floodClients clients
// send them as fast as they can, all from one source address, as behind an
// ingress: each token a real one's header and claims (the right audience,
// unexpired) with a random signature. Beside the flood, new clients (each
// a token never seen) pull a manifest once; so do as many on the quiet
// proxy before it. It reports the flood's first-pull latency against the
// quiet one's (medians), the new clients' refusals, and the TokenReviews
// the API server served per forged token.
//
// The flood comes from a process of its own at the lowest CPU priority
// (runForger): it stands for clients on other machines. On this machine's
// two cores, a flood at normal priority takes its CPU from the upstream
// registry and the API server as much as from the proxy, and measures the
// machine rather than what forged tokens cost the proxy.
func (b *bench) forgedFlood(floodClients, newClients int) {
	log.Printf("new clients' first pulls beside %d clients sending forged tokens from one address", floodClients)
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: b.reg.URL, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"),
		Secret:     registry.SecretData(),
	})
	path := "http://" + p.Host + "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	pull := func(token string) (int, time.Duration) {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Accept", manifestOK)
		req.SetBasicAuth("u", token)
		t0 := time.Now()
		resp, err := b.client.Do(req)
		if err != nil {
			return 0, time.Since(t0)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t0)
	}
	audience := v1alpha1.ConnectorAudience(namespace, connector)
	// firstPulls are in milliseconds.
	firstPulls := func() (latencies []float64, refused int) {
		for range newClients {
			code, d := pull(b.cluster.Token(b.r, namespace, "puller", audience, time.Hour))
			if code != http.StatusOK {
				refused++
			}
			latencies = append(latencies, float64(d.Microseconds())/1000)
		}
		return latencies, refused
	}
	pull(b.token) // warm the proxy's upstream connection and RBAC cache
	quiet, _ := firstPulls()

	real := strings.Split(b.token, ".")
	reviewsBefore := b.tokenReviewsServed()
	forger, proc := b.startHelper("forger", path, real[0]+"."+real[1], strconv.Itoa(floodClients))
	time.Sleep(2 * time.Second) // let the flood fill every limiter first
	flooded, refused := firstPulls()
	forged := forgedSoFar(b, forger)
	_ = proc.Kill()
	reviews := b.tokenReviewsServed() - reviewsBefore - int64(newClients)
	log.Printf("%d forged tokens; %d new clients: first pull median %.1f ms quiet, %.1f ms flooded, %d refused; %d TokenReviews beyond the new clients'",
		forged, newClients, median(quiet), median(flooded), refused, reviews)
	report("flood_new_client_first_pull_vs_quiet", median(flooded)/median(quiet))
	report("flood_victim_refusals", float64(refused))
	report("flood_tokenreviews_per_forged_token", float64(max(reviews, 0))/float64(forged))
}

// forgedSoFar asks the forger how many forged tokens it has sent.
func forgedSoFar(b *bench, forger string) int64 {
	resp, err := http.Get("http://" + forger + "/count")
	check(b.r, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	check(b.r, err)
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	check(b.r, err)
	return n
}

// runForger is the forged-token flood of forgedFlood, in a process of its
// own at the lowest CPU priority: clients goroutines GET target, each with
// headerPayload and a random signature, until killed; GET /count on addr
// says how many it has sent.
func runForger(addr, target, headerPayload string, clients int) {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19); err != nil {
		log.Fatalf("lowering the forger's priority: %v", err)
	}
	var forged atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		go func() {
			sig := make([]byte, 256)
			for {
				_, _ = rand.Read(sig)
				req, _ := http.NewRequest("GET", target, nil)
				req.Header.Set("Accept", manifestOK)
				req.SetBasicAuth("u", headerPayload+"."+base64.RawURLEncoding.EncodeToString(sig))
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				forged.Add(1)
			}
		}()
	}
	http.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, forged.Load()) })
	log.Fatal(http.ListenAndServe(addr, nil))
}

// tokenReviewsServed is how many TokenReviews the API server has answered,
// from its own metrics.
func (b *bench) tokenReviewsServed() int64 {
	raw, err := b.cluster.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	check(b.r, err)
	var n int64
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="tokenreviews"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		check(b.r, err)
		n += int64(v)
	}
	return n
}
