package main

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/serve"
)

// serveProfiles serves Go's runtime profiles on addr until ctx ends: for
// finding where memory and CPU go under load (the benchmark reads the heap
// profile). Off unless --profiling-address is given; keep it on a loopback
// or pod-local address.
func serveProfiles(ctx context.Context, logger *zap.SugaredLogger, addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := serve.HTTP(ctx, logger, srv, addr, time.Second, "what", "profiles"); err != nil {
		logger.Errorw("Serving profiles failed", zap.Error(err))
	}
}
