package attest_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"
)

// hostile is a registry in front of the fixture's that serves other bytes
// (of the same length) for the requests whose path contains one of tamper.
type hostile struct {
	host   string
	tamper atomic.Pointer[[]string]
}

func newHostile(t *testing.T, upstream string) *hostile {
	t.Helper()
	target, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(target)
	h := &hostile{}
	h.tamper.Store(&[]string{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tampered := r.Method == http.MethodGet && func() bool {
			for _, p := range *h.tamper.Load() {
				if strings.Contains(r.URL.Path, p) {
					return true
				}
			}
			return false
		}()
		if !tampered {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if i := bytes.IndexByte(body, '"'); i >= 0 {
			body[i] = '\'' // same length: only the digest tells
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	h.host = strings.TrimPrefix(s.URL, "http://")
	return h
}

// via is ref at the hostile registry.
func (h *hostile) via(t *testing.T, ref name.Digest) name.Digest {
	t.Helper()
	d, err := name.NewDigest(h.host + "/" + ref.RepositoryStr() + "@" + ref.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestContentNotMatchingItsDigestIsAVerificationFailure: a registry that
// serves other bytes under a digest (the image's manifest, the attestation
// image's manifest, an attestation or signature layer) fails verification
// with failure.Verify (exit 4), never an internal error.
func TestContentNotMatchingItsDigestIsAVerificationFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, ref name.Digest) []string
	}{
		{"image manifest", func(_ *testing.T, ref name.Digest) []string { return []string{"/manifests/" + ref.DigestStr()} }},
		{"signature and attestation manifests", func(*testing.T, name.Digest) []string {
			return []string{"/manifests/sha256-"} // the .sig and .att tags: other bytes than the digest their answer names
		}},
		{"attestation and signature layers", func(t *testing.T, ref name.Digest) []string {
			var paths []string
			for _, tagOf := range []func(name.Reference, ...ociremote.Option) (name.Tag, error){ociremote.SignatureTag, ociremote.AttestationTag} {
				tag, _ := tagOf(ref)
				for _, l := range layersOf(t, tag) {
					paths = append(paths, "/blobs/"+l.Digest.String())
				}
			}
			return paths
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ref := f.push(t, "dev/hostile")
			f.attest(t, f.signer, ref)
			h := newHostile(t, f.host)
			paths := tc.tamper(t, ref)
			h.tamper.Store(&paths)
			_, err := attest.Trusting(f.trusted).Verify(f.ctx, h.via(t, ref))
			if c := failure.ClassOf(err); c != failure.Verify {
				t.Fatalf("verify through a registry serving other bytes: %v (class %v), want verification", err, c)
			}
		})
	}
}

// layersOf lists the layers of the cosign image at tag.
func layersOf(t *testing.T, tag name.Tag) []v1.Descriptor {
	t.Helper()
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

// TestOversizedLayerIsRefusedFromItsDescriptor: a signature or attestation
// layer whose descriptor says more than MaxAttestationBytes is refused
// (failure.Verify) without reading a byte of it; one longer than its
// descriptor says is refused after that many bytes.
func TestOversizedLayerIsRefusedFromItsDescriptor(t *testing.T) {
	f := newFixture(t)
	ref := f.push(t, "dev/oversized")
	f.attest(t, f.signer, ref)
	var n atomic.Int64
	ctx := bakeryregistry.Wrap(f.ctx, func(rt http.RoundTripper) http.RoundTripper { return blobReads{rt, &n} })

	saved := attest.MaxAttestationBytes
	t.Cleanup(func() { attest.MaxAttestationBytes = saved })
	attest.MaxAttestationBytes = 64 // every layer of the fixture is larger
	_, err := attest.Trusting(f.trusted).Verify(ctx, ref)
	if c := failure.ClassOf(err); c != failure.Verify || !strings.Contains(err.Error(), "descriptor says") {
		t.Fatalf("verify with layers over the bound: %v (class %v), want verification, refused from the descriptor", err, c)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("read %d blobs before refusing, want 0", got)
	}

	// A descriptor that says fewer bytes than the blob has (push rights on
	// the .att tag): read up to its size, then refused.
	attest.MaxAttestationBytes = saved
	relabel(t, ref, func(m *v1.Manifest) {
		for i := range m.Layers {
			m.Layers[i].Size -= 10
		}
	})
	_, err = attest.Trusting(f.trusted).Verify(ctx, ref)
	if c := failure.ClassOf(err); c != failure.Verify {
		t.Fatalf("verify with descriptors that understate their layers: %v (class %v), want verification", err, c)
	}
}
