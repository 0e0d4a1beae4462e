//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// faultProxy forwards to a real registry and fails a fraction of requests,
// each with one of: 503; 429 with Retry-After; a connection reset before any
// answer; a reset in the middle of the request's body (an upload's chunk, a
// manifest's PUT); a reset in the middle of the response's body. With
// wrongBytes set, it serves manifests asked for by a digest in it with
// other bytes of the same length.
type faultProxy struct {
	addr             string
	permille         atomic.Int64 // the fraction of requests failed, in thousandths
	requests, faults atomic.Int64
	// midBody counts the resets in the middle of a request or response body.
	midBody    atomic.Int64
	wrongBytes atomic.Pointer[string]
}

func newFaultProxy(t *testing.T, upstream string, rate float64) *faultProxy {
	t.Helper()
	target, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &faultProxy{}
	p.wrongBytes.Store(new(string))
	p.permille.Store(int64(rate * 1000))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		r.Host = upstream
		if d := *p.wrongBytes.Load(); d != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/"+d) {
			p.serveWrongBytes(w, r, rp)
			return
		}
		if rand.Int64N(1000) >= p.permille.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		p.faults.Add(1)
		switch rand.IntN(5) {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			resetConn(w)
		case 3:
			if r.ContentLength > 0 || r.ContentLength < 0 && r.Body != http.NoBody {
				// The middle of the request body: part of it has reached
				// the registry's side, then the connection is reset.
				n := max(r.ContentLength/2, 1)
				if r.ContentLength < 0 {
					n = 16 << 10
				}
				_, _ = io.CopyN(io.Discard, r.Body, n)
				p.midBody.Add(1)
				resetConn(w)
				return
			}
			fallthrough
		default:
			p.cutResponse(w, r, rp)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return p
}

// cutResponse forwards r (the registry acts on it) and resets the connection
// halfway through the answer's body; an answer without a body is cut
// before it is sent.
func (p *faultProxy) cutResponse(w http.ResponseWriter, r *http.Request, rp http.Handler) {
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if len(body) < 2 || r.Method == http.MethodHead {
		resetConn(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	p.midBody.Add(1)
	resetConn(w)
}

// serveWrongBytes answers with the registry's answer, one byte changed.
func (p *faultProxy) serveWrongBytes(w http.ResponseWriter, r *http.Request, rp http.Handler) {
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if i := bytes.IndexByte(body, ' '); i >= 0 {
		body[i] = '\t' // the same JSON, other bytes
	} else if i := bytes.IndexByte(body, '{'); i >= 0 {
		body = append(append(append([]byte{}, body[:i+1]...), ' '), body[i+1:]...)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// resetConn closes the connection under w with a TCP reset, not a clean close.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// TestFaultInjectedPromotions promotes into prod, on the second registry,
// through a proxy that fails 20% of requests, resets in the middle of
// request and response bodies (uploads included) among them. Every
// promotion ends correct or with the unavailable exit code (never 1), at
// least 90% succeed, and the registry behind the proxy never holds a
// half-promoted tag: prod's tag is on the digest with its receipt after a
// success, and absent after a failure (or on the digest with its receipt,
// when only the answer to the tag's write was lost).
func TestFaultInjectedPromotions(t *testing.T) {
	proxy := newFaultProxy(t, registry2, 0)
	ns := runID + "-faults"
	const runs = 15
	dir := t.TempDir()
	cfg := smallProject(t, dir, ns, proxy.addr+"/"+ns+"/prod-0", "app")
	digest := rebuild(t, cfg, "app", "faults")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote to staging: exit %d", r.code)
	}
	proxy.permille.Store(200)
	ok, unavailable, violations := 0, 0, 0
	for i := 0; i < runs; i++ {
		repo := fmt.Sprintf("%s/prod-%d", ns, i)
		env := []string{"BAKERY_ENVIRONMENTS_PROD_REPOSITORY=" + proxy.addr + "/" + repo}
		r := bakery(t, env, "promote", "app", "--to", "prod", "--config", cfg)
		switch r.code {
		case 0:
			ok++
		case 6:
			unavailable++
		default:
			t.Errorf("run %d: exit %d, want 0 or 6 (unavailable):\n%s", i, r.code, r.stderr)
		}
		// The invariant, read straight from the registry behind the proxy.
		_, got, status := manifestAt(t, registry2, repo+"/app", "prod")
		switch {
		case r.code == 0 && (status != http.StatusOK || got != digest):
			violations++
			t.Errorf("run %d succeeded but prod's tag answers %d, digest %q, want %s", i, status, got, digest)
		case r.code != 0 && status == http.StatusOK && got != digest, r.code != 0 && status != http.StatusOK && status != http.StatusNotFound:
			// A failure leaves the tag where it was (absent), or, when only
			// the answer to its write was lost, on the digest: status below
			// checks that its receipt is there.
			violations++
			t.Errorf("run %d failed and prod's tag answers %d (digest %q)", i, status, got)
		}
		proxy.permille.Store(0)
		st := bakery(t, env, "status", "--config", cfg, "-o", "json")
		proxy.permille.Store(200)
		var all []map[string]any
		_ = json.Unmarshal([]byte(st.stdout), &all)
		for _, s := range all {
			if s["environment"] == "prod" && s["digest"] != nil && s["digest"] != "" && s["receipt"] != true {
				violations++
				t.Errorf("run %d: prod's tag is on %v without a receipt", i, s["digest"])
			}
		}
	}
	t.Logf("fault injection: %d promotions, %d requests, %d faults injected (%d in the middle of a body), %d succeeded, %d unavailable, %d invariant violations",
		runs, proxy.requests.Load(), proxy.faults.Load(), proxy.midBody.Load(), ok, unavailable, violations)
	if ok*10 < runs*9 {
		t.Errorf("%d of %d promotions rode through 20%% faults, want at least 90%%", ok, runs)
	}
	if proxy.midBody.Load() == 0 {
		t.Error("no fault was injected in the middle of a body: the test tests less than it says")
	}
}

// TestManifestServedWithWrongBytes: a registry that answers a manifest's
// digest with other bytes, at the source or at the destination after the
// copy, fails the promotion with exit 4 (verification), and prod's tag is
// not written.
func TestManifestServedWithWrongBytes(t *testing.T) {
	ns := runID + "-wrongbytes"
	dir := t.TempDir()
	cfg := smallProject(t, dir, ns, registry2+"/"+ns+"/prod-0", "app")
	digest := rebuild(t, cfg, "app", "wrong bytes")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote to staging: exit %d", r.code)
	}
	for i, tc := range []struct {
		name string
		// upstream is the registry the hostile one stands in front of;
		// env points staging or prod at the hostile one.
		upstream string
		env      func(proxy, repo string) []string
	}{
		{"source", regAddr, func(proxy, repo string) []string {
			return []string{"BAKERY_ENVIRONMENTS_STAGING_REPOSITORY=" + proxy + "/" + ns + "/staging",
				"BAKERY_ENVIRONMENTS_PROD_REPOSITORY=" + registry2 + "/" + repo}
		}},
		{"destination after the copy", registry2, func(proxy, repo string) []string {
			return []string{"BAKERY_ENVIRONMENTS_PROD_REPOSITORY=" + proxy + "/" + repo}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := newFaultProxy(t, tc.upstream, 0)
			proxy.wrongBytes.Store(&digest)
			repo := fmt.Sprintf("%s/prod-%d", ns, i+1)
			env := tc.env(proxy.addr, repo)
			r := bakery(t, env, "promote", "app", "--to", "prod", "--config", cfg)
			if r.code != 4 {
				t.Fatalf("exit %d, want 4 (verification):\n%s", r.code, r.stderr)
			}
			if _, got, status := manifestAt(t, registry2, repo+"/app", "prod"); status != http.StatusNotFound {
				t.Errorf("prod's tag answers %d (digest %q) after a refused promotion, want 404", status, got)
			}
		})
	}
}

// manifestAt HEADs repo:ref on host and returns its answer, digest and status.
func manifestAt(t *testing.T, host, repo, ref string) (*http.Response, string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, resp.Header.Get("Docker-Content-Digest"), resp.StatusCode
}
