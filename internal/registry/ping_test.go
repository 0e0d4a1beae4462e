package registry

import (
	"context"
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

// TestOnePingPerRegistry: go-containerregistry pings /v2/ before every
// call; bakery answers the pings after the first from memory, while the
// health check (Ping) always asks the registry.
func TestOnePingPerRegistry(t *testing.T) {
	withSettings(t, Settings{Attempts: 1, RequestTimeout: 5 * time.Second, MaxRetryWait: time.Second, MaxManifestBytes: 4 << 20})
	var pings atomic.Int64
	h := bakerytest.Handler()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.NewDigest(host+"/r/x@"+d.String(), name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pings.Store(0)
	for i := 0; i < 3; i++ {
		if _, err := Resolve(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if got := pings.Load(); got != 1 {
		t.Errorf("3 resolves pinged %d times, want 1", got)
	}
	s.Close()
	reg, _ := name.NewRegistry(host, name.Insecure)
	if err := Ping(ctx, reg); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("Ping of a stopped registry = %v, want unavailable (never the remembered answer)", err)
	}
	if _, err := Resolve(ctx, ref); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("Resolve on a stopped registry = %v, want unavailable", err)
	}
}
