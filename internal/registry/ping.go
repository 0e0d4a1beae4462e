package registry

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// PingTTL is how long one registry's answer to GET /v2/ is reused.
var PingTTL = 30 * time.Second

// pings remembers, per scheme and host, the registry's answer to the ping
// that go-containerregistry sends before every call (to learn how to
// authenticate): one command makes hundreds of calls to the same registry,
// and the answer (200, or 401 with its challenge) does not change within
// seconds. It is what remote.Reuse does for one repository, for the whole
// process. registry.Ping, the health check, never reads it.
var pings = &pingCache{m: map[string]cachedPing{}}

type pingCache struct {
	mu sync.Mutex
	m  map[string]cachedPing
}

type cachedPing struct {
	status int
	header http.Header
	body   []byte
	at     time.Time
}

// pingReuse is a RoundTripper that answers GET /v2/ from pings when it can.
type pingReuse struct{ next http.RoundTripper }

func (p pingReuse) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Path != "/v2/" || req.Header.Get("Authorization") != "" {
		return p.next.RoundTrip(req)
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	pings.mu.Lock()
	c, ok := pings.m[key]
	pings.mu.Unlock()
	if ok && time.Since(c.at) < PingTTL {
		return c.response(req), nil
	}
	resp, err := p.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c = cachedPing{status: resp.StatusCode, header: resp.Header.Clone(), body: body, at: time.Now()}
	pings.mu.Lock()
	pings.m[key] = c
	pings.mu.Unlock()
	return c.response(req), nil
}

func (c cachedPing) response(req *http.Request) *http.Response {
	return &http.Response{
		Status: strconv.Itoa(c.status) + " " + http.StatusText(c.status), StatusCode: c.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}
}
