// Command coredns is CoreDNS v1.14.7 with its default plugin set, as CoreDNS
// documents for builds outside its tree: the test cluster's DNS.
package main

import (
	_ "github.com/coredns/coredns/core/plugin"
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
