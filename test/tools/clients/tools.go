//go:build tools

// Package clients pins the registry clients the tests drive through the
// proxy, and the linter `make lint` runs. It is its own module so their
// dependencies never move the Kubernetes binaries' in ../go.mod.
package clients

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
	_ "github.com/regclient/regclient/cmd/regctl"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
