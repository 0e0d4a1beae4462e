package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// faultServer is a real in-process registry behind a handler that can fail
// the next requests with a status, hang, or corrupt manifests.
type faultServer struct {
	host       string
	failNext   atomic.Int32
	status     int
	retryAfter string
	hang       atomic.Bool
	corrupt    atomic.Bool
	requests   atomic.Int32
}

func newFaultServer(t *testing.T) *faultServer {
	t.Helper()
	inner := bakerytest.Handler()
	f := &faultServer{status: http.StatusServiceUnavailable}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/x/") {
			f.requests.Add(1)
		}
		switch {
		case f.hang.Load():
			<-r.Context().Done()
			return
		case strings.HasPrefix(r.URL.Path, "/v2/x/") && f.failNext.Add(-1) >= 0:
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			w.WriteHeader(f.status)
			return
		case f.corrupt.Load() && strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet:
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write([]byte(strings.Replace(rec.Body.String(), "{", "{ ", 1)))
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	f.host = strings.TrimPrefix(s.URL, "http://")
	return f
}

func (f *faultServer) push(t *testing.T) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.NewDigest(f.host+"/x/app@"+d.String(), name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	f.requests.Store(0)
	return ref
}

// withSettings configures the shared transport for one test and records the
// waits between attempts instead of sleeping.
func withSettings(t *testing.T, s Settings) *[]time.Duration {
	t.Helper()
	Configure(s)
	var waits []time.Duration
	sharedTransport().sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	t.Cleanup(func() { Configure(DefaultSettings) })
	return &waits
}

var testSettings = Settings{Attempts: 5, RequestTimeout: 2 * time.Second, MaxRetryWait: 30 * time.Second, MaxManifestBytes: 4 << 20}

func TestRetriesRideThroughAndHonourRetryAfter(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	f.status, f.retryAfter = http.StatusTooManyRequests, "3"
	f.failNext.Store(2)
	waits := withSettings(t, testSettings)
	got, err := Resolve(context.Background(), ref)
	if err != nil || got != ref {
		t.Fatalf("Resolve through two 429s: %v, %v", got, err)
	}
	if len(*waits) != 2 || (*waits)[0] != 3*time.Second || (*waits)[1] != 3*time.Second {
		t.Errorf("waits %v, want Retry-After's 3s twice", *waits)
	}
}

func TestRetriesAreBoundedAndUnavailable(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	f.failNext.Store(1000)
	waits := withSettings(t, testSettings)
	_, err := Resolve(context.Background(), ref)
	if failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("Resolve against a registry answering 503: %v (class %v), want unavailable", err, failure.ClassOf(err))
	}
	if n := f.requests.Load(); n != 5 || len(*waits) != 4 {
		t.Errorf("%d requests, %d waits; want 5 attempts", n, len(*waits))
	}
	var total time.Duration
	for _, w := range *waits {
		total += w
	}
	if total > testSettings.MaxRetryWait {
		t.Errorf("waited %v in all, more than %v", total, testSettings.MaxRetryWait)
	}
}

func TestARegistryThatNeverAnswersIsUnavailable(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	f.hang.Store(true)
	withSettings(t, Settings{Attempts: 2, RequestTimeout: 300 * time.Millisecond, MaxRetryWait: time.Second, MaxManifestBytes: 4 << 20})
	start := time.Now()
	_, err := Resolve(context.Background(), ref)
	if failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("Resolve against a hanging registry: %v (class %v), want unavailable", err, failure.ClassOf(err))
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %v", took)
	}
}

func TestManifestNotMatchingItsDigestIsAVerificationFailure(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	f.corrupt.Store(true)
	withSettings(t, testSettings)
	_, err := remote.Get(ref, Options(context.Background())...)
	if err == nil {
		t.Fatal("a manifest that does not hash to its digest was accepted")
	}
	if c := failure.ClassOf(Classify(ref.String(), err)); c != failure.Verify {
		t.Fatalf("class %v for %v, want verification", c, err)
	}
}

func TestManifestOverTheBoundIsRefused(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	withSettings(t, Settings{Attempts: 1, RequestTimeout: time.Second, MaxRetryWait: time.Second, MaxManifestBytes: 64})
	_, err := remote.Get(ref, Options(context.Background())...)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a manifest over 64 bytes: %v, want ErrTooLarge", err)
	}
	if c := failure.ClassOf(Classify(ref.String(), err)); c != failure.Verify {
		t.Errorf("class %v, want verification", c)
	}
}

func TestClassifyStatuses(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	withSettings(t, Settings{Attempts: 1, RequestTimeout: time.Second, MaxRetryWait: time.Second, MaxManifestBytes: 4 << 20})
	for status, want := range map[int]failure.Class{
		http.StatusInternalServerError: failure.Unavailable,
		http.StatusBadGateway:          failure.Unavailable,
		http.StatusTooManyRequests:     failure.Unavailable,
		http.StatusForbidden:           failure.Config,
	} {
		f.status, f.retryAfter = status, ""
		f.failNext.Store(1)
		_, err := Resolve(context.Background(), ref)
		if got := failure.ClassOf(err); got != want {
			t.Errorf("HTTP %d: class %v (%v), want %v", status, got, err, want)
		}
	}
}
