package revoke

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"
)

// BenchmarkLineage is the cost of the revocation check every decision makes:
// a digest whose chain of bakery-built bases is depth deep, nothing revoked
// (the whole chain is read). cold is a new Lineage per decision (one
// command), warm the same Lineage again (the ancestors' answers kept).
// requests/op counts the registry requests (in-process registry).
func BenchmarkLineage(b *testing.B) {
	for _, depth := range []int{1, 4, MaxLineageDepth} {
		f := newFixture(b)
		var requests atomic.Int64
		ctx := bakeryregistry.Wrap(f.ctx, func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				requests.Add(1)
				return rt.RoundTrip(r)
			})
		})
		f.ctx = ctx
		dev := f.cfg.Environments[0].Repository
		chain := []name.Digest{f.pushImage(b, dev+"/b0")}
		f.provenance(b, f.signer, chain[0])
		for i := 1; i <= depth; i++ {
			d := f.pushImage(b, dev+"/b"+strings.Repeat("x", i))
			f.provenance(b, f.signer, d, chain[i-1])
			chain = append(chain, d)
		}
		set := f.load(b)
		rep := f.report(b, chain[depth])
		for _, mode := range []string{"cold", "warm"} {
			b.Run(mode+"/depth="+string(rune('0'+depth)), func(b *testing.B) {
				warm := NewLineage(set, f.cfg, attest.Trusting(f.keys))
				requests.Store(0)
				b.ResetTimer()
				for range b.N {
					l := warm
					if mode == "cold" {
						l = NewLineage(set, f.cfg, attest.Trusting(f.keys))
					}
					if _, ok, err := l.Check(ctx, rep, time.Now()); ok || err != nil {
						b.Fatalf("revoked=%v err=%v", ok, err)
					}
				}
				b.ReportMetric(float64(requests.Load())/float64(b.N), "requests/op")
			})
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
