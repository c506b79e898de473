package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// proxyMetrics are the proxy's OpenTelemetry instruments. Attributes are
// bounded: route kinds, status codes, verbs; never a repository, a user or a
// credential.
type proxyMetrics struct {
	requests         metric.Int64Counter
	bytes            metric.Int64Counter
	upstreamDuration metric.Float64Histogram
	authCache        metric.Int64Counter
	cacheRequests    metric.Int64Counter
	bytesBySource    metric.Int64Counter
}

func newProxyMetrics(provider metric.MeterProvider) (*proxyMetrics, error) {
	meter := provider.Meter("github.com/oci-connector/oci-connector/functions/proxy")
	requests, err := meter.Int64Counter("oci_connector.proxy.requests",
		metric.WithDescription("Requests answered, by route, status code and verb"))
	if err != nil {
		return nil, err
	}
	bytes, err := meter.Int64Counter("oci_connector.proxy.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes relayed, by direction (to_client, to_upstream)"))
	if err != nil {
		return nil, err
	}
	upstreamDuration, err := meter.Float64Histogram("oci_connector.proxy.upstream.duration", metric.WithUnit("s"),
		metric.WithDescription("Time until the upstream's response headers, by route"))
	if err != nil {
		return nil, err
	}
	authCache, err := meter.Int64Counter("oci_connector.proxy.auth_cache.lookups",
		metric.WithDescription("Authentication and authorization cache lookups, by cache (token, access) and result (hit, miss)"))
	if err != nil {
		return nil, err
	}
	cacheRequests, err := meter.Int64Counter("oci_connector.proxy.cache.requests",
		metric.WithDescription("Manifest and blob reads with the cache on, by result (hit, miss, stale)"))
	if err != nil {
		return nil, err
	}
	bytesBySource, err := meter.Int64Counter("oci_connector.proxy.cache.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes sent to clients with the cache on, by source (cache, upstream)"))
	if err != nil {
		return nil, err
	}
	return &proxyMetrics{requests: requests, bytes: bytes, upstreamDuration: upstreamDuration, authCache: authCache,
		cacheRequests: cacheRequests, bytesBySource: bytesBySource}, nil
}

var routeNames = map[routeKind]string{
	routeBase: "base", routeCatalog: "catalog", routeManifest: "manifest", routeBlob: "blob",
	routeUpload: "upload", routeTags: "tags", routeReferrers: "referrers",
}

func (m *proxyMetrics) request(ctx context.Context, route string, code int, verb string, toClient, toUpstream int64) {
	m.requests.Add(ctx, 1, metric.WithAttributes(
		attribute.String("route", route), attribute.Int("code", code), attribute.String("verb", verb)))
	if toClient > 0 {
		m.bytes.Add(ctx, toClient, metric.WithAttributes(attribute.String("direction", "to_client")))
	}
	if toUpstream > 0 {
		m.bytes.Add(ctx, toUpstream, metric.WithAttributes(attribute.String("direction", "to_upstream")))
	}
}

func (m *proxyMetrics) upstream(ctx context.Context, route string, d time.Duration) {
	m.upstreamDuration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("route", route)))
}

func (m *proxyMetrics) cacheLookup(ctx context.Context, cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.authCache.Add(ctx, 1, metric.WithAttributes(attribute.String("cache", cache), attribute.String("result", result)))
}

// cached counts a read the cache took part in, and where its bytes came
// from: a hit or a stale serve from the cache, a miss from the upstream.
func (m *proxyMetrics) cached(ctx context.Context, result string, toClient int64) {
	m.cacheRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
	source := "cache"
	if result == cacheMiss {
		source = "upstream"
	}
	if toClient > 0 {
		m.bytesBySource.Add(ctx, toClient, metric.WithAttributes(attribute.String("source", source)))
	}
}
