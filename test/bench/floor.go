package main

import (
	"io"
	"log"
	"net"
)

// The kernel's floor for relaying a blob on this machine: a TCP relay with
// no HTTP at all, splicing each direction between the client's connection
// and its own to the upstream (net.TCPConn.ReadFrom). No HTTP proxy can
// move bytes for less CPU or faster than this, so the proxy's plain-HTTP
// figures are reported against it as well as against the buffered relay.

// runSpliceRelay is `bench splice-relay <addr> <upstream host:port>`.
func runSpliceRelay(addr, upstream string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go spliceBoth(c.(*net.TCPConn), upstream)
	}
}

// spliceBoth relays client to a new upstream connection and back until
// either side closes.
func spliceBoth(client *net.TCPConn, upstream string) {
	defer client.Close()
	conn, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	up := conn.(*net.TCPConn)
	defer up.Close()
	go func() {
		_, _ = up.ReadFrom(client)
		_ = up.CloseWrite()
	}()
	_, _ = io.Copy(client, up) // client.ReadFrom(up): splice
}
