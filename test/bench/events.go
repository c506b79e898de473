package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/auditproc"
	"github.com/oci-connector/oci-connector/test/postgres"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// auditThroughput posts n distinct image.pulled events to the audit function
// on PostgreSQL from workers connections at once, as senders in many proxies
// would, and reports the events stored per second. The server runs with
// fsync off (a test cluster), which favours it: the figure is the function's
// own ceiling, not a disk's.
func (b *bench) auditThroughput(n, workers int) *auditproc.Proc {
	log.Printf("%d events into the audit function on PostgreSQL, %d at a time", n, workers)
	audit := auditproc.Start(b.r, b.cluster, postgres.Start(b.r))
	// The bench's events are about its Connector: its proxy's ServiceAccount
	// in the Connector's namespace sends them (no other may).
	token := b.cluster.Token(b.r, namespace, connectorapi.ProxyServiceAccount, events.AuditAudience, time.Hour)
	data, err := json.Marshal(events.ImageData{Connector: connector, Namespace: namespace, Repository: registry.SeedRepository,
		Reference: registry.SeedTag, Identity: events.Identity{Username: "system:serviceaccount:bench:puller"}, Outcome: events.OutcomeAllowed})
	check(b.r, err)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				req, _ := http.NewRequest("POST", audit.URL, bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Ce-Specversion", "1.0")
				req.Header.Set("Ce-Id", fmt.Sprintf("bench-%d", i))
				req.Header.Set("Ce-Source", events.Source(namespace, connector))
				req.Header.Set("Ce-Type", events.ImagePulled)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		b.r.Fatalf("%d of %d events were not accepted", failed.Load(), n)
	}
	report("audit_events_per_s_postgres", float64(n)/elapsed.Seconds())
	return audit
}

// pullWithEvents compares manifest pulls through proxies side by side, in
// alternating rounds so all see the same machine: one sending an
// image.pulled event per pull to the audit function on PostgreSQL (whose
// work shares this machine's cores), one sending to a sink that only
// accepts (the proxy's own cost), and one sending none.
func (b *bench) pullWithEvents(audit *auditproc.Proc, rounds, perRound int) {
	log.Printf("manifest pulls with and without events, %d rounds of %d", rounds, perRound)
	nullSink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer nullSink.Close()
	start := func(args ...string) *proxyproc.Proc {
		return proxyproc.Start(b.r, proxyproc.Options{
			Upstream: b.reg.URL, Namespace: namespace, Name: connector,
			Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"),
			Secret:     registry.SecretData(), Args: args,
			AuditTokenFile: auditproc.SenderTokenFile(b.r, b.cluster, namespace, connectorapi.ProxyServiceAccount),
			AuditURL:       audit.URL,
		})
	}
	with, withNull, without := start("--sink", audit.URL), start("--sink", nullSink.URL), start()
	path := "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	timeRound := func(p *proxyproc.Proc) time.Duration {
		t0 := time.Now()
		for range perRound {
			b.get("http://"+p.Host, path, "u", b.token, manifestOK)
		}
		return time.Since(t0)
	}
	timeRound(with) // warm the caches
	timeRound(withNull)
	timeRound(without)
	// Three runs, the median reported: the client, the proxies, the audit
	// function and its database share two cores, and one run's spread is
	// as large as the cost measured.
	var ratios, nullRatios []float64
	for run := range 3 {
		var tWith, tNull, tWithout time.Duration
		for range rounds {
			tWith += timeRound(with)
			tNull += timeRound(withNull)
			tWithout += timeRound(without)
		}
		ratios = append(ratios, tWithout.Seconds()/tWith.Seconds())
		nullRatios = append(nullRatios, tWithout.Seconds()/tNull.Seconds())
		log.Printf("run %d: with events to the audit function %.3f, to a null sink %.3f", run+1, ratios[run], nullRatios[run])
	}
	report("pull_with_events_vs_without_ratio", median(ratios))
	report("pull_with_events_null_sink_vs_without_ratio", median(nullRatios))
}
