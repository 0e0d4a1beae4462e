package attest_test

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// fixture is an in-process registry with one image and two key pairs.
type fixture struct {
	ctx          context.Context
	host         string
	signer       signature.SignerVerifier
	other        signature.SignerVerifier
	trusted      []attest.TrustedKey
	untrustedPub string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), host: bakerytest.NewRegistry(t).Host}
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "trusted"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if f.signer, err = attest.LoadSigner(f.ctx, priv, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if f.trusted, err = attest.NewTrustedKeys(f.ctx, []string{pub}); err != nil {
		t.Fatal(err)
	}
	opriv, opub, err := attest.GenerateKeys(filepath.Join(dir, "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.other, err = attest.LoadSigner(f.ctx, opriv, nil); err != nil {
		t.Fatal(err)
	}
	f.untrustedPub = opub
	return f
}

// push writes a random linux/amd64 image and returns its digest reference.
func (f *fixture) push(t *testing.T, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	return f.pushImage(t, repo, img)
}

// pushImage writes img as linux/amd64 and returns its digest reference.
func (f *fixture) pushImage(t *testing.T, repo string, img v1.Image) name.Digest {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.NewDigest(f.host + "/" + repo + "@" + d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *fixture) attest(t *testing.T, signer signature.SignerVerifier, ref name.Digest) *attest.Attached {
	t.Helper()
	rec, err := attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test"}).
		Attest(f.ctx, ref, builders.Result{Target: "web", Kind: builders.Container, Builder: builders.Info{Name: "buildkit", Version: "v0"}})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (f *fixture) verify(ref name.Digest) (*attest.Report, error) {
	return attest.Trusting(f.trusted).Verify(f.ctx, ref)
}

func TestAttestThenVerify(t *testing.T) {
	f := newFixture(t)
	ref := f.push(t, "dev/web")
	rec := f.attest(t, f.signer, ref)
	if len(rec.Attestations) != 3 || len(rec.SBOMs) != 1 || rec.SBOMs[0].Platform != "linux/amd64" || rec.KeyID != f.trusted[0].ID {
		t.Fatalf("record = %+v", rec)
	}
	rep, err := f.verify(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Verified || len(rep.Signatures) != 1 || len(rep.Attestations) != 3 || rep.Signatures[0].SignedAt == "" {
		t.Fatalf("report = %+v", rep)
	}
	for _, a := range rep.Attestations {
		if a.KeyID != f.trusted[0].ID || len(a.Subjects) == 0 || a.Subjects[0] != ref.String() {
			t.Errorf("attestation %+v", a)
		}
	}
}

// TestVerifyRejectsTampering covers every way an image can fail verification.
func TestVerifyRejectsTampering(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) name.Digest
		want  string
	}{
		{"unsigned image", func(t *testing.T) name.Digest { return f.push(t, "t/unsigned") },
			"no signature by a trusted key"},
		{"signed with another key", func(t *testing.T) name.Digest {
			ref := f.push(t, "t/otherkey")
			f.attest(t, f.other, ref)
			return ref
		}, "no signature by a trusted key"},
		{"the only SPDX is about another digest", func(t *testing.T) name.Digest {
			ref := f.push(t, "t/onlyelsewhere")
			f.attest(t, f.signer, ref)
			f.drop(t, ref, attest.PredicateSPDX, "")
			elsewhere := f.push(t, "t/elsewhere")
			if err := attesttest.AttachStatement(f.ctx, f.signer, ref, attesttest.SPDX(elsewhere), attest.PredicateSPDX, types.IntotoPayloadType); err != nil {
				t.Fatal(err)
			}
			return ref
		}, "no verified spdxjson attestation"},
		{"the only SPDX is signed by an untrusted key", func(t *testing.T) name.Digest {
			ref := f.push(t, "t/onlyuntrusted")
			f.attest(t, f.signer, ref)
			f.drop(t, ref, attest.PredicateSPDX, "")
			if err := attesttest.AttachStatement(f.ctx, f.other, ref, attesttest.SPDX(ref), attest.PredicateSPDX, types.IntotoPayloadType); err != nil {
				t.Fatal(err)
			}
			return ref
		}, "no verified spdxjson attestation"},
		{"one platform's SBOM removed from an index", func(t *testing.T) name.Digest {
			ref, arm := f.pushIndex(t, "t/index")
			f.attest(t, f.signer, ref)
			if n := f.drop(t, ref, attest.PredicateCycloneDX, arm.DigestStr()); n != 1 {
				t.Fatalf("dropped %d layers, want arm64's CycloneDX", n)
			}
			return ref
		}, "no verified cyclonedx attestation for platform linux/arm64 (" + "sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.setup(t)
			rep, err := f.verify(ref)
			t.Logf("verify: %v", err)
			if failure.ClassOf(err) != failure.Verify {
				t.Fatalf("err = %v (class %v), want a verification failure", err, failure.ClassOf(err))
			}
			if rep == nil || rep.Verified || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestVerifyIgnoresJunkAttestations: an attestation that does not verify,
// pushed by anyone next to a complete set, counts for nothing, is listed with
// its reason, and does not block the image (as with stock cosign).
func TestVerifyIgnoresJunkAttestations(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		forge  func(t *testing.T, ref name.Digest) error
		reason string
	}{
		{"attestation about another digest", func(t *testing.T, ref name.Digest) error {
			return attesttest.AttachStatement(f.ctx, f.signer, ref, attesttest.SPDX(f.push(t, "t/elsewhere")), attest.PredicateSPDX, types.IntotoPayloadType)
		}, "/t/elsewhere@sha256:"},
		{"claimed predicate type differs from the statement", func(t *testing.T, ref name.Digest) error {
			return attesttest.AttachStatement(f.ctx, f.signer, ref, attesttest.SPDX(ref), attest.PredicateSLSAv1, types.IntotoPayloadType)
		}, `claims predicate type "https://slsa.dev/provenance/v1" but its statement is "https://spdx.dev/Document"`},
		{"envelope payload type is not in-toto", func(t *testing.T, ref name.Digest) error {
			return attesttest.AttachStatement(f.ctx, f.signer, ref, attesttest.SPDX(ref), attest.PredicateSPDX, "text/plain")
		}, `payload type "text/plain" is not "application/vnd.in-toto+json"`},
		{"attestation signed by an untrusted key", func(t *testing.T, ref name.Digest) error {
			return attesttest.AttachStatement(f.ctx, f.other, ref, attesttest.SPDX(ref), attest.PredicateSPDX, types.IntotoPayloadType)
		}, "not signed by a trusted key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := f.push(t, "t/junk")
			f.attest(t, f.signer, ref)
			if err := tc.forge(t, ref); err != nil {
				t.Fatal(err)
			}
			rep, err := f.verify(ref)
			if err != nil {
				t.Fatalf("verify: %v; junk must not block a complete image", err)
			}
			if !rep.Verified || len(rep.Attestations) != 3 {
				t.Errorf("report %+v: want verified with the 3 real attestations only", rep)
			}
			if len(rep.Ignored) != 1 || !strings.Contains(rep.Ignored[0].Reason, tc.reason) {
				t.Errorf("ignored %+v, want one with reason %q", rep.Ignored, tc.reason)
			}
		})
	}
}

// drop removes ref's attestations of type pt (about digest, when not empty).
func (f *fixture) drop(t *testing.T, ref name.Digest, pt, digest string) int {
	t.Helper()
	n, err := attesttest.DropAttestations(f.ctx, ref, func(got string, subjects []string) bool {
		return got == pt && (digest == "" || slices.ContainsFunc(subjects, func(s string) bool { return strings.HasSuffix(s, "@"+digest) }))
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pushIndex writes a linux/amd64 + linux/arm64 index and returns it and its
// arm64 image.
func (f *fixture) pushIndex(t *testing.T, repo string) (name.Digest, name.Digest) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var arm v1.Hash
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		if arch == "arm64" {
			arm, _ = img.Digest()
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, ggcrtypes.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	ref, _ := name.NewDigest(f.host + "/" + repo + "@" + d.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref, ref.Context().Digest(arm.String())
}

func TestVerifyUnreachableRegistryIsNotAFailedVerification(t *testing.T) {
	f := newFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	_, err = attest.Resolve(f.ctx, down+"/x:dev")
	if failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("Resolve: %v", err)
	}
	ref, _ := name.NewDigest(down + "/x@sha256:" + strings.Repeat("a", 64))
	if _, err := f.verify(ref); failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("Verify: %v (class %v)", err, failure.ClassOf(err))
	}
}

func TestResolveTagOnce(t *testing.T) {
	f := newFixture(t)
	ref := f.push(t, "dev/web")
	tag, _ := name.NewTag(ref.Context().String() + ":dev")
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(tag, desc); err != nil {
		t.Fatal(err)
	}
	got, err := attest.Resolve(f.ctx, tag.String())
	if err != nil || got.String() != ref.String() {
		t.Fatalf("Resolve = %v, %v; want %v", got, err, ref)
	}
	if _, err := attest.Resolve(f.ctx, f.host+"/dev/none:dev"); failure.ClassOf(err) != failure.Config {
		t.Fatalf("missing image: %v", err)
	}
}

// TestVerifyBoundsAttestations: a digest flooded with more attestations than
// bakery reads is refused as a verification failure.
func TestVerifyBoundsAttestations(t *testing.T) {
	f := newFixture(t)
	ref := f.push(t, "t/flood")
	f.attest(t, f.signer, ref)
	saved := attest.MaxAttestations
	attest.MaxAttestations = 4
	defer func() { attest.MaxAttestations = saved }()
	for i := 0; i < 2; i++ {
		if err := attesttest.AttachStatement(f.ctx, f.other, ref, attesttest.SPDX(ref), attest.PredicateSPDX, types.IntotoPayloadType); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.verify(ref)
	if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "more than the 4 bakery reads") {
		t.Fatalf("verify of a flooded digest: %v", err)
	}
}
