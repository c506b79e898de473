package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// unauthFlood pulls manifests with a valid token, one after another, while
// floodClients clients (each its own address, as an ingress would forward
// them) send garbage tokens as fast as they can, for d. It reports the share
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
		Secret:     registry.SecretData(), Args: []string{"--sink", sink.URL},
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
