// Package serve is how every oci-connector function runs: a production zap
// logger, a context that SIGINT and SIGTERM end, and an HTTP server drained
// within a grace period.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Main runs run until it returns or a signal ends its context; an error is
// logged as fatal, naming the function.
func Main(name string, run func(ctx context.Context, logger *zap.SugaredLogger) error) {
	zl, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logger := zl.Sugar()
	defer func() { _ = logger.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger); err != nil {
		logger.Fatalw(name+" failed", zap.Error(err))
	}
}

// HTTP serves srv on listen until ctx ends, then stops accepting and lets
// requests in flight finish within grace. fields go into the "Serving" log line.
func HTTP(ctx context.Context, logger *zap.SugaredLogger, srv *http.Server, listen string, grace time.Duration, fields ...any) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	logger.Infow("Serving", append([]any{"address", l.Addr().String()}, fields...)...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
