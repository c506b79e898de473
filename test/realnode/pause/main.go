// Command pause waits for a signal and exits. It is the node's sandbox
// image and the workloads' image in the real-node tests: a static Go
// binary, so no image has to come from outside.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
