// Command countproxy is a counting reverse proxy for registry benchmarks: it
// forwards to a registry and counts requests, blob upload bytes and
// cross-repository mounts. GET /_count returns the counts as JSON;
// POST /_count/reset zeroes them. A development helper for hack/bench.sh.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

type counts struct {
	Requests        atomic.Int64
	BlobUploadBytes atomic.Int64
	Mounts          atomic.Int64
}

func main() {
	listen := flag.String("listen", "127.0.0.1:5102", "address to listen on")
	target := flag.String("target", "http://127.0.0.1:5000", "registry to forward to")
	trace := flag.Bool("trace", false, "log every request: start offset, duration, method, status, path")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatal(err)
	}
	var c counts
	proxy := httputil.NewSingleHostReverseProxy(u)
	http.HandleFunc("/_count", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"requests": c.Requests.Load(), "blob_upload_bytes": c.BlobUploadBytes.Load(), "mounts": c.Mounts.Load(),
		})
	})
	http.HandleFunc("/_count/reset", func(w http.ResponseWriter, _ *http.Request) {
		c.Requests.Store(0)
		c.BlobUploadBytes.Store(0)
		c.Mounts.Store(0)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.Requests.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/uploads/") {
			if r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
				c.Mounts.Add(1)
			}
			if r.Body != nil && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
				r.Body = countingBody{r.Body, &c.BlobUploadBytes}
			}
		}
		if !*trace {
			proxy.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		log.Printf("%4dms %-6s %d %s", time.Since(start).Milliseconds(), r.Method, sw.status, r.URL.Path)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
