package attest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/bakeryhq/bakery/attest"
	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"
)

// blobReads counts the blob GETs a context's registry calls make.
type blobReads struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (b blobReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
		b.n.Add(1)
	}
	return b.next.RoundTrip(req)
}

// copyAttached copies ref with its cosign signature and attestation images
// into repo, byte for byte, as a promotion does.
func (f *fixture) copyAttached(t *testing.T, ref name.Digest, repo string) name.Digest {
	t.Helper()
	dst, err := name.NewDigest(f.host + "/" + repo + "@" + ref.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	for _, tagOf := range []func(name.Reference, ...ociremote.Option) (name.Tag, error){nil, ociremote.SignatureTag, ociremote.AttestationTag} {
		src, to := name.Reference(ref), name.Reference(dst)
		if tagOf != nil {
			s, _ := tagOf(ref)
			d, _ := tagOf(dst)
			src, to = s, d
		}
		if err := crane.Copy(src.String(), to.String()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestVerifyChecksEachLayerOnce: verifying a digest again, in another
// repository it was copied to, reads its three manifests and no layer: what
// each layer says, and who signed it, is remembered by the layer's digest.
// What the manifests say is read every time, so an attacker with push rights
// in the second repository cannot borrow a verified layer under another
// claim, and other keys get no credit from the first check.
func TestVerifyChecksEachLayerOnce(t *testing.T) {
	f := newFixture(t)
	ref := f.push(t, "dev/once")
	f.attest(t, f.signer, ref)
	var n atomic.Int64
	ctx := bakeryregistry.Wrap(f.ctx, func(rt http.RoundTripper) http.RoundTripper { return blobReads{rt, &n} })
	first, err := attest.Trusting(f.trusted).Verify(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 4 { // one signature payload, three attestations
		t.Fatalf("first verification read %d blobs, want 4", got)
	}
	prod := f.copyAttached(t, ref, "prod/once")
	n.Store(0)
	again, err := attest.Trusting(f.trusted).Verify(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("verifying the copy read %d blobs, want 0", got)
	}
	if len(again.Attestations) != len(first.Attestations) || again.Attestations[0].Layer != first.Attestations[0].Layer || len(again.Signatures) != 1 {
		t.Errorf("the copy's report %+v differs from the source's %+v", again, first)
	}

	other, err := attest.NewTrustedKeys(f.ctx, []string{f.untrustedPub})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := attest.Trusting(other).Verify(ctx, prod); err == nil || len(rep.Signatures) != 0 || len(rep.Attestations) != 0 {
		t.Errorf("another key got credit for the first key's signatures: %+v, %v", rep, err)
	}

	// Push rights on prod: relabel the (already checked) SPDX layer as
	// provenance, and drop the real provenance. The relabelled layer must be
	// ignored, so that the copy no longer verifies.
	relabel(t, prod, func(m *v1.Manifest) {
		var keep []v1.Descriptor
		for _, l := range m.Layers {
			switch l.Annotations["predicateType"] {
			case attest.PredicateSLSAv1:
				continue
			case attest.PredicateSPDX:
				l.Annotations = map[string]string{"predicateType": attest.PredicateSLSAv1}
			}
			keep = append(keep, l)
		}
		m.Layers = keep
	})
	rep, err := attest.Trusting(f.trusted).Verify(ctx, prod)
	if err == nil || !strings.Contains(err.Error(), "no verified slsaprovenance1 attestation") {
		t.Fatalf("verify after relabelling a checked layer: %v", err)
	}
	if len(rep.Ignored) != 1 || !strings.Contains(rep.Ignored[0].Reason, "claims predicate type") {
		t.Errorf("ignored = %+v, want the relabelled layer", rep.Ignored)
	}
}

// relabel rewrites the manifest of ref's attestation image with edit.
func relabel(t *testing.T, ref name.Digest, edit func(*v1.Manifest)) {
	t.Helper()
	tag, _ := ociremote.AttestationTag(ref)
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawManifest{raw: raw, mt: desc.MediaType}); err != nil {
		t.Fatal(err)
	}
}

// rawManifest is a manifest's bytes, to put as they are.
type rawManifest struct {
	raw []byte
	mt  ggcrtypes.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)            { return r.raw, nil }
func (r rawManifest) MediaType() (ggcrtypes.MediaType, error) { return r.mt, nil }
