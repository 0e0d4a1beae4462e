package promote

import (
	"bytes"
	"encoding/base64"

	"github.com/sigstore/cosign/v2/pkg/oci"
	cosignmutate "github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"

	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"

	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
)

// faultyRegistry is an in-process registry whose handler can be made to fail
// (the registry "disappears") or to run a hook before serving a request.
type faultyRegistry struct {
	host string
	down atomic.Bool
	hook atomic.Pointer[func(*http.Request)]
}

func newRegistry(t *testing.T) *faultyRegistry {
	t.Helper()
	f := &faultyRegistry{}
	inner := bakerytest.Handler()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := f.hook.Load(); h != nil {
			(*h)(r)
		}
		if f.down.Load() {
			// Drop the connection, as a registry that went away does.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	f.host = strings.TrimPrefix(s.URL, "http://")
	return f
}

type fixture struct {
	ctx       context.Context
	dev, prod *faultyRegistry
	cfg       *config.Config
	promoter  *Promoter
	signer    signature.SignerVerifier
}

// newFixture makes dev and staging environments on two in-process
// registries, a key pair, and a promoter whose staging applies every
// shipped policy that an in-memory image can pass.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), dev: newRegistry(t), prod: newRegistry(t)}
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(f.ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(f.ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.Compile(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = &config.Config{
		File:    "bakery.yaml",
		Targets: map[string]*config.Target{"app": {Name: "app", Type: config.TypeContainer}},
		Environments: []config.Environment{
			{Name: "dev", Repository: f.dev.host + "/dev", Tag: config.DefaultTagTemplate, Insecure: true},
			{Name: "staging", Repository: f.prod.host + "/staging", Tag: config.DefaultTagTemplate, Insecure: true,
				Policies: []string{"signed", "sbom", "provenance", "promoted_through"}},
		},
		Signing: config.Signing{BuilderID: "https://builder.test"},
		Policy:  config.Policy{AllowedBuilders: []string{"https://builder.test"}},
	}
	f.promoter = New(Options{Config: f.cfg, Verifier: attest.Trusting(keys), Signer: attest.ReadySigner(signer), Policies: engine, Version: "test"})
	f.signer = signer
	return f
}

// buildIntoDev pushes a two-platform index to dev, attests it as bakery build
// does (SBOMs, provenance, signature, build receipt) and tags it dev.
func (f *fixture) buildIntoDev(t *testing.T) name.Digest {
	t.Helper()
	return f.buildTargetIntoDev(t, "app")
}

// buildTargetIntoDev is buildIntoDev for another target of the fixture.
func (f *fixture) buildTargetIntoDev(t *testing.T, target string) name.Digest {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	repo, _ := name.NewRepository(f.dev.host+"/dev/"+target, name.Insecure)
	ref := repo.Digest(d.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	att := attest.New(attest.Options{Signer: f.signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := att.Attest(f.ctx, ref, builders.Result{Target: target, Kind: builders.Container}); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, f.signer, ref, target, "dev", "test"); err != nil {
		t.Fatal(err)
	}
	desc, _ := remote.Get(ref)
	if err := remote.Tag(repo.Tag("dev"), desc); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *fixture) stagingTag(t *testing.T) (v1.Hash, bool) {
	t.Helper()
	tag, _ := name.NewTag(f.prod.host+"/staging/app:staging", name.Insecure)
	desc, err := remote.Head(tag)
	if err != nil {
		return v1.Hash{}, false
	}
	return desc.Digest, true
}

func TestPromoteAcrossRegistriesCarriesSignatures(t *testing.T) {
	f := newFixture(t)
	src := f.buildIntoDev(t)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != src.DigestStr() || !res.Copy.ImageCopied || res.Copy.Signatures != 1 || res.Copy.Attestations != 6 || !res.Receipt {
		t.Fatalf("result %+v copy %+v", res, res.Copy)
	}
	if d, ok := f.stagingTag(t); !ok || d.String() != src.DigestStr() {
		t.Fatalf("staging tag = %v %v", d, ok)
	}
	// Every platform is there, byte for byte.
	dst, _ := name.NewDigest(res.Destination, name.Insecure)
	idx, err := remote.Index(dst)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if _, err := remote.Head(dst.Context().Digest(m.Digest.String())); err != nil {
			t.Errorf("platform %v missing at the destination: %v", m.Platform, err)
		}
	}
	// Again: already promoted, nothing copied, signed or moved.
	res, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || !res.AlreadyPromoted || res.Copy != nil || res.Receipt {
		t.Fatalf("second promotion: %+v %v", res, err)
	}
}

// TestRegistryGoneMidCopy drops the destination registry during the copy:
// the promotion fails as unavailable, the destination tag is not there, and
// re-running completes the promotion.
func TestRegistryGoneMidCopy(t *testing.T) {
	f := newFixture(t)
	src := f.buildIntoDev(t)
	var blobs atomic.Int32
	hook := func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") && blobs.Add(1) == 2 {
			f.prod.down.Store(true)
		}
	}
	f.prod.hook.Store(&hook)
	_, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "nothing was tagged") {
		t.Fatalf("err = %v (class %v)", err, failure.ClassOf(err))
	}
	f.prod.hook.Store(nil)
	f.prod.down.Store(false)
	if _, ok := f.stagingTag(t); ok {
		t.Fatal("the staging tag exists after a failed copy")
	}
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || res.Digest != src.DigestStr() {
		t.Fatalf("re-run: %+v %v", res, err)
	}
	if d, ok := f.stagingTag(t); !ok || d.String() != src.DigestStr() {
		t.Fatalf("staging tag after re-run = %v %v", d, ok)
	}
}

// TestTagMovedDuringPromotionFailsClosed moves dev's tag to another digest
// while the image is being copied: nothing is tagged.
func TestTagMovedDuringPromotionFailsClosed(t *testing.T) {
	f := newFixture(t)
	first := f.buildIntoDev(t)
	second := f.buildIntoDev(t) // dev now points at second
	devTag, _ := name.NewTag(f.dev.host+"/dev/app:dev", name.Insecure)
	var moved atomic.Bool
	hook := func(r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && moved.CompareAndSwap(false, true) {
			desc, err := remote.Get(first)
			if err == nil {
				err = remote.Tag(devTag, desc)
			}
			if err != nil {
				t.Errorf("moving the tag: %v", err)
			}
		}
	}
	f.prod.hook.Store(&hook)
	_, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "moved from "+second.DigestStr()) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := f.stagingTag(t); ok {
		t.Fatal("staging was tagged although the source tag moved")
	}
}

func TestPromoteDeniedCopiesNothing(t *testing.T) {
	f := newFixture(t)
	src := f.buildIntoDev(t)
	f.cfg.Policy.AllowedBuilders = []string{"https://other.test"}
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if failure.ClassOf(err) != failure.Policy || res == nil || res.Decision == nil || res.Decision.Allowed {
		t.Fatalf("err = %v, res = %+v", err, res)
	}
	dst, _ := name.NewDigest(f.prod.host+"/staging/app@"+src.DigestStr(), name.Insecure)
	if _, err := remote.Head(dst); err == nil {
		t.Fatal("a denied image was copied")
	}
}

// TestCopyCarriesReferrers attaches an OCI 1.1 referrer (an artifact whose
// subject is the image) at the source and checks Copy brings it along.
func TestCopyCarriesReferrers(t *testing.T) {
	ctx := context.Background()
	a, b := newRegistry(t), newRegistry(t)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	src, _ := name.NewDigest(a.host + "/dev/app@" + d.String())
	if err := remote.Write(src, img); err != nil {
		t.Fatal(err)
	}
	desc, _ := remote.Get(src)
	sbom, _ := random.Image(128, 1)
	sbom = mutate.MediaType(sbom, types.OCIManifestSchema1)
	artifact := mutate.Subject(mutate.ConfigMediaType(sbom, "application/vnd.example.sbom"), desc.Descriptor).(v1.Image)
	ad, _ := artifact.Digest()
	if err := remote.Write(src.Context().Digest(ad.String()), artifact); err != nil {
		t.Fatal(err)
	}
	dst, _ := name.NewDigest(b.host + "/prod/app@" + d.String())
	st, err := Copy(ctx, src, dst, Trusted{})
	if err != nil || !st.ImageCopied || st.Referrers != 1 {
		t.Fatalf("copy: %+v %v", st, err)
	}
	idx, err := remote.Referrers(dst)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != ad {
		t.Fatalf("referrers at the destination: %+v", im.Manifests)
	}
	if st, err := Copy(ctx, src, dst, Trusted{}); err != nil || st.Referrers != 0 {
		t.Fatalf("second copy: %+v %v", st, err)
	}
}

// TestPromoteLeavesUntrustedLayersBehind: signature and attestation layers
// pushed next to the real ones by someone without a trusted key are not
// carried into the next environment, and the result says so.
func TestPromoteLeavesUntrustedLayersBehind(t *testing.T) {
	f := newFixture(t)
	src := f.buildIntoDev(t)
	opriv, _, err := attest.GenerateKeys(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	osigner, err := attest.LoadSigner(f.ctx, opriv, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A junk signature and a junk attestation, by an untrusted key.
	if err := attest.Sign(f.ctx, osigner, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := attest.Attach(f.ctx, osigner, src, []attest.Statement{{PredicateType: attest.PredicateSPDX,
		Subjects: []attest.Subject{attest.SubjectOf(src)}, Predicate: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}); err != nil {
		t.Fatal(err)
	}
	// A forged signature over the trusted signature's very payload: the
	// same layer digest, another signature annotation.
	se := ociremote.SignedUnknown(src, bakeryregistry.OCIOptions(f.ctx)...)
	sigs, err := se.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := sigs.Get()
	if err != nil || len(layers) == 0 {
		t.Fatalf("signatures at the source: %v %v", layers, err)
	}
	var trusted oci.Signature
	for _, l := range layers {
		if b64, _ := l.Base64Signature(); b64 != "" {
			if ok, _ := verifiesWith(f.signer, l); ok {
				trusted = l
			}
		}
	}
	p, _ := trusted.Payload()
	forged, err := osigner.SignMessage(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(forged))
	if err != nil {
		t.Fatal(err)
	}
	if se, err = cosignmutate.AttachSignatureToEntity(se, fs); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(src.Repository, se, bakeryregistry.OCIOptions(f.ctx)...); err != nil {
		t.Fatal(err)
	}
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copy.Signatures != 1 || res.Copy.Attestations != 6 || len(res.Copy.LeftBehind) != 3 {
		t.Fatalf("copy %+v: want 1 signature and 6 attestations carried, the 3 junk layers left behind", res.Copy)
	}
	dst, _ := name.NewDigest(res.Destination, name.Insecure)
	sigImage, err := remote.Image(dst.Context().Tag(strings.Replace(dst.DigestStr(), ":", "-", 1) + ".sig"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sigImage.Manifest(); len(m.Layers) != 1 {
		t.Errorf("%d signature layers at the destination, want the one trusted", len(m.Layers))
	}
}

// TestReceiptsOfAnotherTargetDoNotCount: an image legitimately promoted as
// target a, copied with its signatures and receipts under target b's
// repository and tag, is not "promoted through" for b, and cannot be rolled
// back to as b.
func TestReceiptsOfAnotherTargetDoNotCount(t *testing.T) {
	f := newFixture(t)
	f.cfg.Targets["b"] = &config.Target{Name: "b", Type: config.TypeContainer}
	f.cfg.Environments = append(f.cfg.Environments, config.Environment{Name: "prod", Repository: f.prod.host + "/prod",
		Tag: config.DefaultTagTemplate, Insecure: true, Policies: []string{"signed", "sbom", "provenance", "promoted_through"}})
	src := f.buildAndPromote(t)
	// The attacker copies app's staging digest, signatures and receipts to b's staging repository.
	from, _ := name.NewDigest(f.prod.host+"/staging/app@"+src.DigestStr(), name.Insecure)
	to, _ := name.NewDigest(f.prod.host+"/staging/b@"+src.DigestStr(), name.Insecure)
	f.copyTrusted(t, from, to)
	if err := remote.Tag(to.Context().Tag("staging"), mustGet(t, to)); err != nil {
		t.Fatal(err)
	}
	res, err := f.promoter.Promote(f.ctx, Request{Target: "b", To: "prod"})
	if failure.ClassOf(err) != failure.Policy || res.Decision == nil || res.Decision.Allowed {
		t.Fatalf("promote b to prod on a's receipts: %v (%+v)", err, res)
	}
	if _, err := f.promoter.Rollback(f.ctx, "b", "staging", src.DigestStr()); failure.ClassOf(err) != failure.Verify {
		t.Fatalf("rollback of b to a's digest: %v, want a verification failure", err)
	}
}

func mustGet(t *testing.T, d name.Digest) *remote.Descriptor {
	t.Helper()
	desc, err := remote.Get(d)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// TestStatusReceiptAndDrift: status says whether the tag's digest holds this
// environment's receipt, and DRIFT when the tag was moved by hand, to a digest
// without a receipt or back to an older receipted one.
func TestStatusReceiptAndDrift(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	second := f.buildAndPromote(t)
	status := func() Status {
		t.Helper()
		st, err := StatusOf(f.ctx, f.cfg, f.promoter.opts.Verifier, "app", "staging")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st.Digest != second.DigestStr() || !st.Receipt || st.Drift || !st.Healthy() {
		t.Fatalf("after two promotions: %+v", st)
	}
	stagingRepo, _ := name.NewRepository(f.prod.host+"/staging/app", name.Insecure)
	moveTo := func(d string) {
		t.Helper()
		if err := remote.Tag(stagingRepo.Tag("staging"), mustGet(t, stagingRepo.Digest(d))); err != nil {
			t.Fatal(err)
		}
	}
	moveTo(first.DigestStr())
	if st := status(); !st.Receipt || !st.Drift || st.Expected != second.DigestStr() || st.Healthy() {
		t.Errorf("tag moved back by hand: %+v, want receipted but drifting", st)
	}
	third := f.buildIntoDev(t)
	f.copyTrusted(t, third, stagingRepo.Digest(third.DigestStr()))
	moveTo(third.DigestStr())
	if st := status(); st.Receipt || !st.Drift || !st.Verified || st.Healthy() {
		t.Errorf("tag moved to a signed digest never promoted here: %+v, want verified, no receipt, drifting", st)
	}
}

// TestRollbackNeverMovesForward: after rolling back from the second digest
// to the first, neither the default rollback nor --to the second moves the
// environment forward again.
func TestRollbackNeverMovesForward(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	second := f.buildAndPromote(t)
	res, err := f.promoter.Rollback(f.ctx, "app", "staging", "")
	if err != nil || res.Digest != first.DigestStr() {
		t.Fatalf("rollback: %+v %v, want back to the first digest", res, err)
	}
	if res, err := f.promoter.Rollback(f.ctx, "app", "staging", ""); failure.ClassOf(err) != failure.Config {
		t.Errorf("a second rollback: %+v %v, want no earlier digest (it would move forward)", res, err)
	}
	if _, err := f.promoter.Rollback(f.ctx, "app", "staging", second.DigestStr()); failure.ClassOf(err) != failure.Policy {
		t.Errorf("rollback --to the later digest: %v, want a policy refusal", err)
	}
	if d, _ := f.stagingTag(t); d.String() != first.DigestStr() {
		t.Errorf("staging runs %s, want the first digest", d)
	}
}

// TestSettleReportsALostRace plays a race out step by step: a second
// promotion signs a newer receipt for its digest but has not tagged yet. The
// first promotion, run again, re-signs and wins; the second then tags and
// must report a conflict, not success.
func TestSettleReportsALostRace(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	second := f.buildIntoDev(t)
	staging := &f.cfg.Environments[1]
	tag, _ := staging.Locate("app")
	dst2 := tag.Context().Digest(second.DigestStr())
	f.copyTrusted(t, second, dst2)
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: "app", Environment: "staging", From: "dev"}
	if err := receipt.Sign(f.ctx, f.signer, dst2, meta, "", "test", nil); err != nil {
		t.Fatal(err)
	}
	// The first promotion again: its receipt is not the newest, so it is not
	// "already promoted"; it signs afresh and settles.
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Digest: first.DigestStr()})
	if err != nil || res.AlreadyPromoted || !res.Receipt {
		t.Fatalf("re-running the first promotion: %+v %v", res, err)
	}
	// The second promotion now moves the tag and settles: it lost.
	if err := remote.Tag(tag, mustGet(t, dst2)); err != nil {
		t.Fatal(err)
	}
	if err := f.promoter.settle(f.ctx, "app", "staging", dst2, tag); failure.ClassOf(err) != failure.Conflict {
		t.Fatalf("settle of the loser: %v, want a conflict", err)
	}
}

// TestRacingPromotionsNeverBothSucceedInconsistently races two promotions of
// different digests into one environment, several times: when both report
// success, the tag and the newest receipt agree.
func TestRacingPromotionsNeverBothSucceedInconsistently(t *testing.T) {
	f := newFixture(t)
	for round := 0; round < 3; round++ {
		a, b := f.buildIntoDev(t), f.buildIntoDev(t)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, d := range []name.Digest{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Digest: d.DigestStr()})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && failure.ClassOf(err) != failure.Conflict {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		st, err := StatusOf(f.ctx, f.cfg, f.promoter.opts.Verifier, "app", "staging")
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] == nil && errs[1] == nil && st.Drift {
			t.Errorf("round %d: both promotions succeeded, yet status is %+v", round, st)
		}
		if !st.Receipt {
			t.Errorf("round %d: the tag is on %s, which holds no receipt", round, st.Digest)
		}
	}
}

// TestInputListsSBOMPerPlatform: the policy input has each platform's
// packages, as well as all of them merged.
func TestInputListsSBOMPerPlatform(t *testing.T) {
	f := newFixture(t)
	src := f.buildIntoDev(t)
	rep, err := f.promoter.opts.Verifier.Verify(f.ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Input(rep, "app", "dev", f.cfg, &f.cfg.Environments[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in.SBOM.Platforms["linux/amd64"]; !ok || len(in.SBOM.Platforms) != 2 {
		t.Errorf("platforms %v, want linux/amd64 and linux/arm64", in.SBOM.Platforms)
	}
	if _, ok := in.SBOM.Platforms["linux/arm64"]; !ok {
		t.Errorf("platforms %v: no linux/arm64", in.SBOM.Platforms)
	}
}

// verifiesWith reports whether sig's signature verifies with sv.
func verifiesWith(sv signature.Verifier, sig oci.Signature) (bool, error) {
	p, err := sig.Payload()
	if err != nil {
		return false, err
	}
	b64, err := sig.Base64Signature()
	if err != nil {
		return false, err
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return false, err
	}
	return sv.VerifySignature(bytes.NewReader(raw), bytes.NewReader(p)) == nil, nil
}

// copyTrusted copies src to dst with the layers that verify at src, as an
// attacker with push rights (or a half-done promotion) leaves it.
func (f *fixture) copyTrusted(t *testing.T, src, dst name.Digest) {
	t.Helper()
	rep, err := f.promoter.opts.Verifier.Verify(f.ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(f.ctx, src, dst, TrustedOf(rep)); err != nil {
		t.Fatal(err)
	}
}

// buildAndPromote builds a new digest into dev and promotes it to staging.
func (f *fixture) buildAndPromote(t *testing.T) name.Digest {
	t.Helper()
	d := f.buildIntoDev(t)
	if _, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err != nil {
		t.Fatal(err)
	}
	return d
}
