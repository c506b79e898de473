//go:build tools

// Package tools pins buildkit v0.18.2, the version seed 002 runs, for the
// CSI driver's build-and-push test. It is its own module because buildkit's
// requirements must not move the main module's pins, and `go install`
// refuses buildkit's go.mod.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
