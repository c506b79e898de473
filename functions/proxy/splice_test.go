package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fromRecorder is a writer that takes a ReadFrom as a TCP connection
// does, and remembers what it was handed.
type fromRecorder struct {
	bytes.Buffer
	src io.Reader
}

func (f *fromRecorder) ReadFrom(r io.Reader) (int64, error) {
	f.src = r
	return f.Buffer.ReadFrom(r)
}

// A marked blob GET to a plain-HTTP upstream comes back on the proxy's own
// connection, and its body goes to a ReaderFrom as the socket itself
// (what net.TCPConn.ReadFrom splices), after the bytes read with the
// headers. Unmarked requests and chunked answers take the copying path.
func TestBlobBodiesAreHandedOverAsTheSocket(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		}
		_, _ = w.Write(blob)
	}))
	defer srv.Close()
	s := newSplicing(http.DefaultTransport.(*http.Transport).Clone())

	get := func(ctx context.Context, path string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get(withSplice(context.Background()), "/blob")
	spliced, ok := resp.Body.(*splicedBody)
	if !ok {
		t.Fatalf("a marked blob GET got a %T body", resp.Body)
	}
	var w fromRecorder
	n, err := spliced.relayTo(&w)
	resp.Body.Close()
	if err != nil || n != int64(len(blob)) || !bytes.Equal(w.Bytes(), blob) {
		t.Fatalf("relayed %d bytes (%v), equal %t", n, err, bytes.Equal(w.Bytes(), blob))
	}
	lr, ok := w.src.(*io.LimitedReader)
	if !ok {
		t.Fatalf("ReadFrom got a %T, want the socket in an *io.LimitedReader", w.src)
	}
	if _, ok := lr.R.(*net.TCPConn); !ok {
		t.Fatalf("ReadFrom read from a %T, want the *net.TCPConn", lr.R)
	}

	for name, resp := range map[string]*http.Response{
		"unmarked": get(context.Background(), "/blob"),
		"chunked":  get(withSplice(context.Background()), "/chunked"),
	} {
		if _, ok := resp.Body.(*splicedBody); ok {
			t.Errorf("%s: spliced", name)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, blob) {
			t.Errorf("%s: %d bytes (%v)", name, len(got), err)
		}
	}
}

// A spliced body read by a writer that cannot splice is copied whole, and
// a connection that ends early is an error, not a short blob.
func TestSplicedBodiesReadWholeOrFail(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			path := strings.Fields(string(buf))[1]
			body := "hello"
			length := len(body)
			if path == "/short" {
				length = 100
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(length)+"\r\n\r\n"+body)
			c.Close()
		}
	}()
	s := newSplicing(http.DefaultTransport.(*http.Transport).Clone())
	for path, want := range map[string]string{"/whole": "", "/short": "unexpected EOF"} {
		req, _ := http.NewRequestWithContext(withSplice(context.Background()), http.MethodGet, "http://"+l.Addr().String()+path, nil)
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case want == "" && (err != nil || string(got) != "hello"):
			t.Errorf("%s: %q, %v", path, got, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", path, err, want)
		}
	}
}
