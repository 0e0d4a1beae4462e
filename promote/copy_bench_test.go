package promote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/bakerytest"
)

// counter is a counting proxy in front of an in-process registry: it counts
// requests and the bytes of blob uploads it receives.
type counter struct {
	host      string
	requests  atomic.Int64
	blobBytes atomic.Int64
}

func newCounter(b *testing.B) *counter {
	c := &counter{}
	inner := bakerytest.Handler()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			c.blobBytes.Add(int64(len(body)))
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		inner.ServeHTTP(w, r)
	}))
	b.Cleanup(s.Close)
	c.host = strings.TrimPrefix(s.URL, "http://")
	return c
}

func (c *counter) reset() { c.requests.Store(0); c.blobBytes.Store(0) }

// seed pushes a 5-layer, 5 MiB image signed with one signature-like layer.
func seed(b *testing.B, host string) name.Digest {
	img, err := random.Image(1<<20, 5)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.NewDigest(host + "/dev/app@" + d.String())
	if err := remote.Write(ref, img); err != nil {
		b.Fatal(err)
	}
	return ref
}

// BenchmarkCopy counts what Copy sends to the destination registry in the
// three cases the promotion path meets (figures in BENCHMARKS.md).
func BenchmarkCopy(b *testing.B) {
	ctx := context.Background()
	b.Run("already-present", func(b *testing.B) {
		from, to := newCounter(b), newCounter(b)
		src := seed(b, from.host)
		dst, _ := name.NewDigest(to.host + "/staging/app@" + src.DigestStr())
		if _, err := Copy(ctx, src, dst, Trusted{}); err != nil {
			b.Fatal(err)
		}
		from.reset()
		to.reset()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := Copy(ctx, src, dst, Trusted{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(to.requests.Load())/float64(b.N), "dst-requests/op")
		b.ReportMetric(float64(from.requests.Load())/float64(b.N), "src-requests/op")
		b.ReportMetric(float64(to.blobBytes.Load())/float64(b.N), "blob-bytes/op")
	})
	// Across registries, into an empty registry each time (the in-process
	// registry's blob store is global, so a second copy into the same one
	// would upload nothing): blob-bytes/op equals the image's compressed
	// size when every blob is streamed exactly once.
	b.Run("across-registries", func(b *testing.B) {
		from := newCounter(b)
		src := seed(b, from.host)
		img, _ := remote.Image(src)
		size := int64(0)
		layers, _ := img.Layers()
		for _, l := range layers {
			n, _ := l.Size()
			size += n
		}
		cf, _ := img.RawConfigFile()
		size += int64(len(cf))
		var requests, bytes int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			to := newCounter(b)
			dst, _ := name.NewDigest(fmt.Sprintf("%s/prod/app@%s", to.host, src.DigestStr()))
			b.StartTimer()
			if _, err := Copy(ctx, src, dst, Trusted{}); err != nil {
				b.Fatal(err)
			}
			requests += to.requests.Load()
			bytes += to.blobBytes.Load()
		}
		b.ReportMetric(float64(requests)/float64(b.N), "dst-requests/op")
		b.ReportMetric(float64(bytes)/float64(b.N), "blob-bytes/op")
		b.ReportMetric(float64(size), "image-bytes")
	})
}
