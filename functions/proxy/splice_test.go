package main

import (
	"bytes"
	"context"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
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

// A blob of a mebibyte or more goes past net/http straight onto the client's
// socket, and the answer says "Connection: close"; a smaller one keeps the
// connection alive, and so does a blob asked for over HTTP/2. Every byte
// arrives and is counted.
func TestLargeBlobsGoStraightToTheClientsSocket(t *testing.T) {
	large := bytes.Repeat([]byte("0123456789abcdef"), 128<<10) // 2 MiB
	small := large[:100<<10]
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			_, _ = io.WriteString(w, "{}")
			return
		}
		body := small
		if strings.HasSuffix(r.URL.Path, strings.Repeat("a", 64)) {
			body = large
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	defer upstream.Close()
	reader := sdkmetric.NewManualReader()
	proxy := newTestProxy(t, upstream.URL, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	clients := map[string]*http.Client{
		"HTTP/1.1": {Transport: &http.Transport{}},
		"h2c":      {Transport: &http.Transport{Protocols: h2c}},
	}

	for _, c := range []struct {
		client    string
		digit     string
		want      []byte
		wantClose bool
	}{
		{"HTTP/1.1", "a", large, true},
		{"HTTP/1.1", "b", small, false},
		{"h2c", "a", large, false},
	} {
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/v2/testing/busybox/blobs/sha256:"+strings.Repeat(c.digit, 64), nil)
		req.SetBasicAuth("u", goodToken)
		resp, err := clients[c.client].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, c.want) {
			t.Fatalf("%s, %d bytes: status %d, %d bytes (%v), equal %t", c.client, len(c.want), resp.StatusCode, len(got), err, bytes.Equal(got, c.want))
		}
		if resp.Close != c.wantClose {
			t.Errorf("%s, %d bytes: Connection: close is %t, want %t", c.client, len(c.want), resp.Close, c.wantClose)
		}
		if c.client == "h2c" && resp.ProtoMajor != 2 {
			t.Errorf("h2c client spoke %s", resp.Proto)
		}
	}
	if got, want := metricSums(t, reader)["oci_connector.proxy.bytes|direction=to_client"], int64(2*len(large)+len(small)); got != want {
		t.Errorf("%d bytes counted to the client, want %d", got, want)
	}
}
