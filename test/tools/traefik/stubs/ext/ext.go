// Package ext stands in for Traefik's dynamic configuration extension
// module, which its release does not publish: the open-source build
// extends nothing.
package ext

// HTTP extends Traefik's HTTP configuration: with nothing.
type HTTP struct{}

// Router extends Traefik's router configuration: with nothing.
type Router struct{}
