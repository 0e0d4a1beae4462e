package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Settings bound what bakery asks of, and reads from, a registry. They are
// process-wide: one transport (connections, retries, limits) serves every
// registry call of a command.
type Settings struct {
	// Attempts is how many times a request is sent before its error is
	// returned: on a connection error, a timeout, 408, 429 and 5xx.
	Attempts int
	// RequestTimeout bounds the wait for a response's headers, so that a
	// registry that accepts the connection and never answers is given up on.
	RequestTimeout time.Duration
	// MaxRetryWait bounds one wait between attempts, Retry-After included,
	// and the sum of the waits of one request.
	MaxRetryWait time.Duration
	// MaxManifestBytes bounds a manifest (and a referrers or tag list).
	MaxManifestBytes int64
}

// DefaultSettings are the settings unless Configure is called.
var DefaultSettings = Settings{Attempts: 5, RequestTimeout: 30 * time.Second, MaxRetryWait: 30 * time.Second, MaxManifestBytes: 4 << 20}

var (
	mu     sync.RWMutex
	shared = newTransport(DefaultSettings)
)

// Configure sets the settings of every registry call from now on.
func Configure(s Settings) {
	if s.Attempts < 1 {
		s.Attempts = 1
	}
	mu.Lock()
	defer mu.Unlock()
	shared = newTransport(s)
}

func sharedTransport() *retrying {
	mu.RLock()
	defer mu.RUnlock()
	return shared
}

// remoteOptions are the transport options of Options: bakery's transport does
// the retries. go-containerregistry's own retry (at the transport, and around
// streamed blob uploads, which a transport cannot replay) is kept for
// connection errors only: a timeout was already retried below it, and
// retrying it again would multiply the wait on a registry that never answers.
func remoteOptions(ctx context.Context) []remote.Option {
	var rt http.RoundTripper = sharedTransport()
	if l, ok := ctx.Value(localKey{}).(*local); ok {
		rt = l
	}
	if w, ok := ctx.Value(wrapKey{}).(func(http.RoundTripper) http.RoundTripper); ok {
		rt = w(rt)
	}
	rt = pingReuse{next: rt}
	return []remote.Option{remote.WithTransport(rt), remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(err error) bool {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return false
			}
			return IsUnavailable(err)
		})}
}

// retrying is an http.RoundTripper that retries what a registry's outage or
// rate limit answers, honouring Retry-After, and bounds what it reads.
type retrying struct {
	base  http.RoundTripper
	s     Settings
	sleep func(context.Context, time.Duration) error
}

func newTransport(s Settings) *retrying {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = s.RequestTimeout
	base.MaxIdleConnsPerHost = 16
	return &retrying{base: base, s: s, sleep: sleepCtx}
}

// RoundTrip sends req up to Attempts times. A request whose body cannot be
// replayed is sent once.
func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		resp, err := t.base.RoundTrip(req)
		last := attempt >= t.s.Attempts || (req.Body != nil && req.GetBody == nil)
		if !retryable(resp, err) || last {
			return t.limit(req, resp), err
		}
		wait := backoff(attempt, resp, t.s.MaxRetryWait)
		if waited+wait > t.s.MaxRetryWait {
			return t.limit(req, resp), err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// retryable: a connection error or timeout, or 408, 429, 5xx.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && IsUnavailable(err)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500 && c != http.StatusNotImplemented:
		return true
	}
	return false
}

// backoff is the wait before attempt+1: Retry-After when the registry says,
// else exponential from 200ms with jitter, at most max.
func backoff(attempt int, resp *http.Response, maxWait time.Duration) time.Duration {
	if resp != nil {
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
				return min(time.Duration(secs)*time.Second, maxWait)
			}
			if at, err := http.ParseTime(s); err == nil {
				return min(max(time.Until(at), 0), maxWait)
			}
		}
	}
	d := 200 * time.Millisecond << (attempt - 1)
	d += time.Duration(rand.Int64N(int64(d)/4 + 1))
	return min(d, maxWait)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limit caps a manifest's body (and any list the registry answers with) at
// MaxManifestBytes: reading more is an error, never an out-of-memory.
func (t *retrying) limit(req *http.Request, resp *http.Response) *http.Response {
	if resp == nil || !strings.Contains(req.URL.Path, "/manifests/") && !strings.HasSuffix(req.URL.Path, "/tags/list") &&
		!strings.Contains(req.URL.Path, "/referrers/") {
		return resp
	}
	if resp.ContentLength > t.s.MaxManifestBytes {
		resp.Body.Close()
		resp.Body = errBody{fmt.Errorf("%s: %w: the registry answered %d bytes, more than the %d a manifest may have", req.URL.Path, ErrTooLarge, resp.ContentLength, t.s.MaxManifestBytes)}
		return resp
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.s.MaxManifestBytes, path: req.URL.Path, max: t.s.MaxManifestBytes}
	return resp
}

// ErrTooLarge is the cause of a read past a bound.
var ErrTooLarge = errors.New("larger than bakery reads")

type limitedBody struct {
	rc        io.ReadCloser
	left, max int64
	path      string
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%s: %w: more than %d bytes", l.path, ErrTooLarge, l.max)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left <= 0 && err == nil {
		// One byte more tells a body of exactly the bound from a longer one.
		var one [1]byte
		if m, _ := l.rc.Read(one[:]); m > 0 {
			return n, fmt.Errorf("%s: %w: more than %d bytes", l.path, ErrTooLarge, l.max)
		}
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }

type errBody struct{ err error }

func (e errBody) Read([]byte) (int, error) { return 0, e.err }
func (e errBody) Close() error             { return nil }
