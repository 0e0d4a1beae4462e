package registry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// cutting is an in-process registry that cuts off the first cut blob
// uploads in the middle of their body with a connection reset, and then,
// as the distribution registry does, answers 400 BLOB_UPLOAD_INVALID to
// anything else sent into a session that was cut. With cutManifest, it also
// resets the connection in the middle of the first manifest GET's body.
type cutting struct {
	host               string
	cut                atomic.Int32
	cutManifest        atomic.Bool
	sessions, invalids atomic.Int32
	mu                 sync.Mutex
	broken             map[string]bool
}

func newCutting(t *testing.T) *cutting {
	t.Helper()
	inner := bakerytest.Handler()
	c := &cutting{broken: map[string]bool{}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session := strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Method != http.MethodPost
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			c.sessions.Add(1)
		}
		c.mu.Lock()
		broken := session && c.broken[r.URL.Path]
		c.mu.Unlock()
		switch {
		case broken:
			c.invalids.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}`)
			return
		case session && r.Method == http.MethodPatch && c.cut.Add(-1) >= 0:
			_, _ = io.CopyN(io.Discard, r.Body, 32<<10) // the middle of the body
			c.mu.Lock()
			c.broken[r.URL.Path] = true
			c.mu.Unlock()
			reset(w)
			return
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") && c.cutManifest.CompareAndSwap(true, false):
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			reset(w)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	c.host = strings.TrimPrefix(s.URL, "http://")
	return c
}

// reset closes the connection under w with a TCP reset.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func noSleep(s Settings) context.Context {
	transportFor(s.withDefaults()).sleep = func(context.Context, time.Duration) error { return nil }
	return WithSettings(context.Background(), s)
}

// TestUploadCutOffMidBodyStartsAgain: a blob upload reset in the middle of
// its body is started again from a new upload session (the cut one only
// answers BLOB_UPLOAD_INVALID), within Attempts; past them it is
// unavailable (exit 6), never an internal error.
func TestUploadCutOffMidBodyStartsAgain(t *testing.T) {
	c := newCutting(t)
	ctx := noSleep(Settings{Attempts: 3, RequestTimeout: 5 * time.Second, MaxRetryWait: time.Second})
	img, err := random.Image(1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(c.host + "/up/app:v1")

	c.cut.Store(2)
	if err := remote.Write(ref, img, Options(ctx)...); err != nil {
		t.Fatalf("push through two uploads cut off mid-body: %v", err)
	}
	if n := c.invalids.Load(); n != 0 {
		t.Errorf("%d requests were sent into a cut upload session, want none", n)
	}
	if n := c.sessions.Load(); n < 4 { // config and layer, the layer three times
		t.Errorf("%d upload sessions, want the cut layer started again twice", n)
	}

	img2, _ := random.Image(1<<20, 1)
	c.cut.Store(1000)
	err = remote.Write(ref, img2, Options(ctx)...)
	if c := failure.ClassOf(Classify(ref.String(), err)); c != failure.Unavailable {
		t.Fatalf("push with every upload cut off: %v (class %v), want unavailable", err, c)
	}
}

// TestManifestCutOffMidBodyIsAskedAgain: a manifest whose body is reset
// halfway is asked for again, as an answer that never came would be.
func TestManifestCutOffMidBodyIsAskedAgain(t *testing.T) {
	c := newCutting(t)
	ctx := noSleep(Settings{Attempts: 2, RequestTimeout: 5 * time.Second, MaxRetryWait: time.Second})
	img, _ := random.Image(256, 1)
	d, _ := img.Digest()
	ref, _ := name.NewDigest(c.host + "/m/app@" + d.String())
	if err := remote.Write(ref, img, Options(ctx)...); err != nil {
		t.Fatal(err)
	}
	c.cutManifest.Store(true)
	if _, err := remote.Get(ref, Options(ctx)...); err != nil {
		t.Fatalf("get through a manifest cut off mid-body: %v", err)
	}
	if c.cutManifest.Load() {
		t.Fatal("the manifest was not cut off: the test tests nothing")
	}
}

// TestSettingsTravelInTheContext: each context's registry calls use the
// settings it carries (here, how many attempts), with or without the
// process defaults changed, and one transport serves each settings value.
func TestSettingsTravelInTheContext(t *testing.T) {
	f := newFaultServer(t)
	ref := f.push(t)
	f.failNext.Store(1000)
	for _, attempts := range []int{1, 2, 4} {
		f.requests.Store(0)
		ctx := noSleep(Settings{Attempts: attempts, RequestTimeout: time.Second, MaxRetryWait: 10 * time.Second})
		if _, err := Resolve(ctx, ref); failure.ClassOf(err) != failure.Unavailable {
			t.Fatalf("attempts %d: %v, want unavailable", attempts, err)
		}
		if got := f.requests.Load(); got != int32(attempts) {
			t.Errorf("a context with attempts %d sent %d requests", attempts, got)
		}
	}
	s := Settings{Attempts: 2, RequestTimeout: time.Second, MaxRetryWait: time.Second}
	first, second := transportFor(SettingsOf(WithSettings(context.Background(), s))), transportFor(SettingsOf(WithSettings(context.Background(), s)))
	if first != second {
		t.Error("two contexts with equal settings have two transports (two connection pools)")
	}
	if got := SettingsOf(WithSettings(context.Background(), Settings{Attempts: 3})); got.MaxManifestBytes != DefaultSettings.MaxManifestBytes || got.RequestTimeout != DefaultSettings.RequestTimeout {
		t.Errorf("fields left zero are %+v, want the defaults", got)
	}
}
