// Command etcd is etcd's own server entry point, built from the module proxy so
// the tests need no download from GitHub releases.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
