package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// ErrOffline is the cause of a request to a registry that a context served
// offline (ServeLocal with offline set) does not answer.
var ErrOffline = errors.New("offline: no registry but the local one is reachable")

type localKey struct{}

type wrapKey struct{}

// Wrap returns a context whose registry calls go through wrap(transport),
// transport being what they would use otherwise (ServeLocal's included).
// bundle wraps a cache of the blobs one export reads, so that verifying a
// digest and then writing it reads each blob from the registry once.
func Wrap(ctx context.Context, wrap func(http.RoundTripper) http.RoundTripper) context.Context {
	return context.WithValue(ctx, wrapKey{}, wrap)
}

// local answers the requests to one host with an in-process handler, without
// a socket; other hosts go to the shared transport, or nowhere when offline.
type local struct {
	host    string
	h       http.Handler
	offline bool
}

// ServeLocal returns a context whose registry calls (every Options and
// OCIOptions made from it) to host are answered by h in this process, with
// no socket or network at all: the request is handed to h.ServeHTTP and its
// recorded answer returned. With offline, a call to any other host fails
// with ErrOffline instead of reaching the network. bundle serves an OCI
// layout this way, so that the same verification code reads it.
func ServeLocal(ctx context.Context, host string, h http.Handler, offline bool) context.Context {
	return context.WithValue(ctx, localKey{}, &local{host: host, h: h, offline: offline})
}

// RoundTrip answers a request to the local host in-process.
func (l *local) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != l.host {
		if l.offline {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ErrOffline)
		}
		return transportFor(SettingsOf(req.Context())).RoundTrip(req)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
