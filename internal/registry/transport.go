package registry

import (
	"bytes"
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
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Settings bound what bakery asks of, and reads from, a registry. A command
// carries them in its context (WithSettings); every registry call made from
// that context (Options, OCIOptions, Ping) uses them, through one transport
// (connection pool, retries, limits) per distinct Settings value.
type Settings struct {
	// Attempts is how many times a request is sent before its error is
	// returned: on a connection error, a timeout, 408, 429 and 5xx. A blob
	// upload is started again from a new upload session as many times.
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

// DefaultSettings are the settings of a context that carries none.
var DefaultSettings = Settings{Attempts: 5, RequestTimeout: 30 * time.Second, MaxRetryWait: 30 * time.Second, MaxManifestBytes: 4 << 20}

type settingsKey struct{}

// WithSettings returns a context whose registry calls use s. Fields left
// zero take DefaultSettings' values.
func WithSettings(ctx context.Context, s Settings) context.Context {
	return context.WithValue(ctx, settingsKey{}, s.withDefaults())
}

// SettingsOf returns the settings ctx carries, or the defaults.
func SettingsOf(ctx context.Context) Settings {
	if s, ok := ctx.Value(settingsKey{}).(Settings); ok {
		return s
	}
	mu.RLock()
	defer mu.RUnlock()
	return defaults
}

func (s Settings) withDefaults() Settings {
	if s.Attempts < 1 {
		s.Attempts = DefaultSettings.Attempts
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = DefaultSettings.RequestTimeout
	}
	if s.MaxRetryWait <= 0 {
		s.MaxRetryWait = DefaultSettings.MaxRetryWait
	}
	if s.MaxManifestBytes <= 0 {
		s.MaxManifestBytes = DefaultSettings.MaxManifestBytes
	}
	return s
}

var (
	mu       sync.RWMutex
	defaults = DefaultSettings
	// transports holds one transport per Settings value, so that every call
	// with the same settings shares its connections.
	transports sync.Map // Settings → *retrying
)

// Configure sets the settings of a context that carries none. Commands carry
// theirs with WithSettings; this is for tests that call a library directly.
func Configure(s Settings) {
	mu.Lock()
	defer mu.Unlock()
	defaults = s.withDefaults()
}

// transportFor returns the one transport of s.
func transportFor(s Settings) *retrying {
	if t, ok := transports.Load(s); ok {
		return t.(*retrying)
	}
	t, _ := transports.LoadOrStore(s, newTransport(s))
	return t.(*retrying)
}

func sharedTransport() *retrying { return transportFor(SettingsOf(context.Background())) }

// remoteOptions are the transport options of Options: bakery's transport does
// the retries. go-containerregistry's own retry (at the transport, and around
// blob uploads) is kept for connection errors, and for an upload session the
// registry no longer accepts: bakery's transport sends a request into an
// upload session once (a session cut off mid-body is invalid at the
// registry, and sending its chunk again only gets 400 BLOB_UPLOAD_INVALID),
// and go-containerregistry starts the upload again from a new session, up
// to Attempts times. A timeout was already retried below it, and retrying it
// again would multiply the wait on a registry that never answers.
func remoteOptions(ctx context.Context) []remote.Option {
	s := SettingsOf(ctx)
	var rt http.RoundTripper = transportFor(s)
	if l, ok := ctx.Value(localKey{}).(*local); ok {
		rt = l
	}
	if w, ok := ctx.Value(wrapKey{}).(func(http.RoundTripper) http.RoundTripper); ok {
		rt = w(rt)
	}
	rt = pingReuse{next: rt}
	return []remote.Option{remote.WithTransport(rt), remote.WithRetryStatusCodes(),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.25, Steps: s.Attempts, Cap: s.MaxRetryWait}),
		remote.WithRetryPredicate(func(err error) bool {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || IsRefused(err) {
				return false
			}
			return IsUnavailable(err) || isUploadLost(err)
		})}
}

// isUploadLost reports a registry's answer that an upload session is gone
// or broken (after a cut-off chunk, or expired): the upload must start again
// from a new session.
func isUploadLost(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == transport.BlobUploadInvalidErrorCode || d.Code == transport.BlobUploadUnknownErrorCode {
			return true
		}
	}
	return false
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
// replayed, and a request into a blob upload session (see remoteOptions),
// is sent once. A manifest's body, and a small blob's, is read here,
// bounded, so that one cut off mid-body is asked for again like one that
// got no answer.
func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	var waited time.Duration
	once := req.Body != nil && req.GetBody == nil || inUploadSession(req)
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
		if err == nil {
			resp, err = t.limit(req, resp)
		}
		last := attempt >= t.s.Attempts || once
		if !retryable(resp, err) || last {
			return resp, err
		}
		wait := backoff(attempt, resp, t.s.MaxRetryWait)
		if waited+wait > t.s.MaxRetryWait {
			return resp, err
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

// inUploadSession reports a request into a blob upload session (a chunk, or
// the closing PUT): the URL the registry answered the upload's POST with.
func inUploadSession(req *http.Request) bool {
	return (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.Contains(req.URL.Path, "/blobs/uploads/")
}

// retryable: a connection error or timeout, or 408, 429, 5xx.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && IsUnavailable(err) && !IsRefused(err)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500 && c != http.StatusNotImplemented:
		return true
	}
	return false
}

// IsRefused reports a connection the registry's host refused: nothing
// listens there, so asking again within the retry budget only makes a
// person wait (a registry being restarted is asked again by the next run).
func IsRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

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

// limit reads a manifest's body (and any list the registry answers with) in
// full, at most MaxManifestBytes: more is an error, never an out-of-memory.
// A body cut off is returned as the error, for RoundTrip to retry. A blob
// of at most MaxManifestBytes is read in full the same way.
func (t *retrying) limit(req *http.Request, resp *http.Response) (*http.Response, error) {
	if req.Method == http.MethodHead {
		return resp, nil
	}
	if !strings.Contains(req.URL.Path, "/manifests/") && !strings.HasSuffix(req.URL.Path, "/tags/list") &&
		!strings.Contains(req.URL.Path, "/referrers/") {
		// A small blob (a signature, an attestation, a receipt, a config)
		// is read here too, so that one cut off is asked for again; a
		// large one streams to its reader.
		if !strings.Contains(req.URL.Path, "/blobs/") || resp.StatusCode != http.StatusOK ||
			resp.ContentLength < 0 || resp.ContentLength > t.s.MaxManifestBytes {
			return resp, nil
		}
	}
	if resp.ContentLength > t.s.MaxManifestBytes {
		resp.Body.Close()
		resp.Body = errBody{fmt.Errorf("%s: %w: the registry answered %d bytes, more than the %d a manifest may have", req.URL.Path, ErrTooLarge, resp.ContentLength, t.s.MaxManifestBytes)}
		return resp, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, t.s.MaxManifestBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", req.URL.Redacted(), err)
	}
	if int64(len(b)) > t.s.MaxManifestBytes {
		resp.Body = errBody{fmt.Errorf("%s: %w: more than %d bytes", req.URL.Path, ErrTooLarge, t.s.MaxManifestBytes)}
		return resp, nil
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	return resp, nil
}

// ErrTooLarge is the cause of a read past a bound.
var ErrTooLarge = errors.New("larger than bakery reads")

type errBody struct{ err error }

func (e errBody) Read([]byte) (int, error) { return 0, e.err }
func (e errBody) Close() error             { return nil }
