package bundle

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
)

// BenchmarkExportImport exports a two-platform image of 2 x 3 layers of
// 8 MiB plus one layer both platforms share (56 MiB of unique blobs), verifies
// the bundle and imports it into another registry, and checks on every
// iteration that export reads each blob of the source once and writes it once
// (bytes written = the sum of the unique blobs), and that import reads each
// blob of the bundle once.
//
//	go test -run XXX -bench ExportImport -benchtime 3x ./bundle
func BenchmarkExportImport(b *testing.B) {
	f := newFixture(b)
	f.digest = f.buildLarge(b)
	engine, err := policies.Compile(f.ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := promote.New(promote.Options{Config: f.src, Verifier: attest.Trusting(f.keys), Signer: attest.ReadySigner(f.signer), Policies: engine, Version: "bench"})
	if _, err := p.Promote(f.ctx, promote.Request{Target: "app", To: "prod"}); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bundle.tar")
	var written int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.srcRegistry.reads()
		res, err := f.export(b, path)
		if err != nil {
			b.Fatal(err)
		}
		written = res.Bytes
		bd, err := Open(path, f.keys)
		if err != nil {
			b.Fatal(err)
		}
		checkReadOnce(b, "export", bd.Manifest, f.srcRegistry.reads())
		var sum int64
		for _, bl := range bd.Manifest.Blobs {
			sum += bl.Size
		}
		if res.Bytes != sum+manifestSize(b, bd) {
			b.Fatalf("wrote %d bytes, the unique blobs are %d", res.Bytes, sum+manifestSize(b, bd))
		}
		f.site.Environments[0].Repository = newRegistry(b).host + "/site" // empty: every blob is copied
		if _, err := Import(f.ctx, bd, ImportOptions{Policies: f.engine, Config: f.site, Env: "prod", Keys: f.keys, Signer: f.signer, Version: "bench"}); err != nil {
			b.Fatal(err)
		}
		checkReadOnce(b, "import", bd.Manifest, bd.served)
		bd.served = map[string]int{}
		bd.Close()
	}
	b.ReportMetric(float64(written), "bytes-written/op")
}

// manifestSize is the size of the bundle's own manifest blob.
func manifestSize(tb testing.TB, bd *Bundle) int64 {
	tb.Helper()
	var n int64
	for d, size := range bd.sizes {
		listed := false
		for _, bl := range bd.Manifest.Blobs {
			listed = listed || bl.Digest == d
		}
		if !listed {
			n += size
		}
	}
	return n
}

// checkReadOnce: every config and layer blob of m was read exactly once.
func checkReadOnce(tb testing.TB, what string, m *Manifest, reads map[string]int) {
	tb.Helper()
	for _, bl := range m.Blobs {
		if (bl.What == "config" || bl.What == "layer") && reads[bl.Digest] != 1 {
			tb.Fatalf("%s read %s %d times", what, bl.describe(), reads[bl.Digest])
		}
	}
}

// buildLarge is build with two platforms of three 8 MiB layers each and a
// layer both share.
func (f *fixture) buildLarge(tb testing.TB) name.Digest {
	tb.Helper()
	shared, err := random.Layer(8<<20, types.OCILayer)
	if err != nil {
		tb.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(8<<20, 3)
		if err != nil {
			tb.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, shared); err != nil {
			tb.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	repo, _ := name.NewRepository(f.srcHost+"/dev/app", name.Insecure)
	ref := repo.Digest(d.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		tb.Fatal(err)
	}
	att := attest.New(attest.Options{Signer: f.signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := att.Attest(f.ctx, ref, builders.Result{Target: "app", Kind: builders.Container}); err != nil {
		tb.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, f.signer, ref, "app", "dev", "test"); err != nil {
		tb.Fatal(err)
	}
	desc, _ := remote.Get(ref)
	if err := remote.Tag(repo.Tag("dev"), desc); err != nil {
		tb.Fatal(err)
	}
	return ref
}
