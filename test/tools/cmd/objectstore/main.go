// Command objectstore is the S3-compatible object store of the tests: a
// separate process, as a user's store would be. It is gofakes3 (in memory)
// with one bucket, and it refuses requests that name another access key
// than --access-key-id. It checks the key a request names, not the
// request's signature: enough to tell the right Secret from a wrong one.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on; the chosen one is printed as LISTENING <host:port>")
	bucket := flag.String("bucket", "cache", "the bucket to create")
	accessKeyID := flag.String("access-key-id", "", "the only access key accepted")
	flag.Parse()
	if *accessKeyID == "" {
		log.Fatal("--access-key-id is required")
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(*bucket); err != nil {
		log.Fatal(err)
	}
	s3 := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithIntegrityCheck(true))
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "LISTENING %s\n", l.Addr())
	log.Fatal(http.Serve(l, requireKey(*accessKeyID, s3.Server())))
}

// requireKey refuses, as S3 does, a request whose SigV4 credential names
// another access key.
func requireKey(id string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.Contains(auth, "Credential="+id+"/") && !strings.HasPrefix(r.URL.Query().Get("X-Amz-Credential"), id+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
