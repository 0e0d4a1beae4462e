package revoke

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// pushImage pushes a random image to repo (under dev's registry) by digest.
func (f *fixture) pushImage(t testing.TB, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(repo+"@"+h.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(d, img); err != nil {
		t.Fatal(err)
	}
	return d
}

// provenance attaches SLSA provenance, signed by signer, that names bases as
// BuildKit does (pkg:docker/REPO@TAG?platform=…, pinned by digest).
func (f *fixture) provenance(t testing.TB, signer signature.Signer, d name.Digest, bases ...name.Digest) {
	t.Helper()
	var deps []map[string]any
	for _, b := range bases {
		deps = append(deps, map[string]any{
			"uri":    "pkg:docker/" + url.PathEscape(b.Context().Name()) + "@dev?platform=linux%2Famd64",
			"digest": map[string]string{"sha256": b.DigestStr()[len("sha256:"):]},
		})
	}
	pred, err := json.Marshal(map[string]any{"buildDefinition": map[string]any{"buildType": attest.BuildTypeContainer, "resolvedDependencies": deps}})
	if err != nil {
		t.Fatal(err)
	}
	st := attest.Statement{PredicateType: attest.PredicateSLSAv1, Subjects: []attest.Subject{attest.SubjectOf(d)}, Predicate: pred}
	if err := attesttest.AttachStatement(f.ctx, signer, d, st, attest.PredicateSLSAv1, types.IntotoPayloadType); err != nil {
		t.Fatal(err)
	}
}

// report is what a decision has of d: its verified provenance.
func (f *fixture) report(t testing.TB, d name.Digest) *attest.Report {
	t.Helper()
	atts, _, err := attest.Trusting(f.keys).Attestations(f.ctx, d, []string{attest.PredicateSLSAv1})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(d.DigestStr())
	return &attest.Report{Reference: d.String(), Digest: h, Attestations: atts}
}

// TestLineageRevokesDescendants: revoking a golden base revokes what was built
// on it, directly and transitively, including images built after the
// revocation (nothing has to cascade); an ancestor whose provenance is hidden
// or forged fails closed; a base outside the config's repositories is
// checked but not followed; an offline check stops at the digest's own
// materials.
func TestLineageRevokesDescendants(t *testing.T) {
	f := newFixture(t)
	dev := f.cfg.Environments[0].Repository
	host := dev[:len(dev)-len("/dev")]
	debian := f.pushImage(t, host+"/base/debian") // not a bakery repository
	base := f.pushImage(t, dev+"/golden-base")
	app := f.pushImage(t, dev+"/app")
	app2 := f.pushImage(t, dev+"/app2")
	f.provenance(t, f.signer, base, debian)
	f.provenance(t, f.signer, app, base)
	f.provenance(t, f.signer, app2, app)
	now := time.Now()

	check := func(l *Lineage, d name.Digest) (Entry, bool, error) {
		return l.Check(f.ctx, f.report(t, d), now)
	}
	clean := NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys))
	for _, d := range []name.Digest{base, app, app2} {
		if e, ok, err := check(clean, d); ok || err != nil {
			t.Errorf("%s with nothing revoked: %+v %v %v", d, e, ok, err)
		}
	}

	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(base.DigestStr(), ActionRevoke, now.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	lin := NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys))
	for _, tc := range []struct {
		d     name.Digest
		cause string
	}{{base, ""}, {app, base.DigestStr()}, {app2, base.DigestStr()}} {
		e, ok, err := check(lin, tc.d)
		if err != nil || !ok || e.Cause != tc.cause || e.Digest != tc.d.DigestStr() || e.Reason != "CVE-2024-3094" {
			t.Errorf("%s: %+v revoked=%v err=%v, want revoked with cause %q", tc.d.DigestStr()[:19], e, ok, err, tc.cause)
		}
	}
	if e, ok, _ := check(lin, app2); ok && e.Describe() == "" {
		t.Error("no words for a lineage revocation")
	}

	// A base named by an argument, checked before a build.
	if e, ok, err := lin.CheckBase(f.ctx, base, now); !ok || err != nil || e.Cause != "" {
		t.Errorf("CheckBase(revoked base) = %+v %v %v", e, ok, err)
	}
	if e, ok, err := lin.CheckBase(f.ctx, app, now); !ok || err != nil || e.Cause != base.DigestStr() {
		t.Errorf("CheckBase(app on the revoked base) = %+v %v %v", e, ok, err)
	}
	// The materials a build recorded, before it is attested.
	ms := []Material{{URI: "pkg:docker/" + app.Context().Name() + "@dev", Digest: app.DigestStr()}}
	if e, ok, err := lin.CheckMaterials(f.ctx, "sha256:new", ms, now); !ok || err != nil || e.Cause != base.DigestStr() || e.Digest != "sha256:new" {
		t.Errorf("CheckMaterials(on app) = %+v %v %v", e, ok, err)
	}

	// Offline, only the digest's own materials are checked.
	if _, ok, err := check(lin.Offline(), app); !ok || err != nil {
		t.Errorf("offline app: revoked=%v err=%v, want revoked through its own material", ok, err)
	}
	if _, ok, err := check(lin.Offline(), app2); ok || err != nil {
		t.Errorf("offline app2: revoked=%v err=%v, want not known offline", ok, err)
	}

	// The attacker hides app's provenance: app2's lineage cannot be known.
	if n, err := attesttest.DropAttestations(f.ctx, app, func(string, []string) bool { return true }); err != nil || n == 0 {
		t.Fatalf("dropping app's attestations: %d %v", n, err)
	}
	if _, ok, err := check(NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys)), app2); ok || failure.ClassOf(err) != failure.Verify {
		t.Errorf("app's provenance hidden: revoked=%v err=%v, want a verification failure", ok, err)
	}
	// ... and puts back a provenance of their own that names no base.
	f.provenance(t, f.attacker, app)
	if _, ok, err := check(NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys)), app2); ok || failure.ClassOf(err) != failure.Verify {
		t.Errorf("app's provenance forged: revoked=%v err=%v, want a verification failure", ok, err)
	}

	// A revoked image outside bakery's repositories revokes what names it.
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(debian.DigestStr(), ActionRevoke, now.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(base.DigestStr(), ActionRestore, now.Add(-time.Second))}); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := check(NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys)), base); !ok || err != nil || e.Cause != debian.DigestStr() {
		t.Errorf("base on a revoked debian: %+v %v %v", e, ok, err)
	}
}

// TestLineageStopsAtCyclesAndDepth: a provenance that names itself, or a
// chain longer than the bound, ends the walk without hanging.
func TestLineageStopsAtCyclesAndDepth(t *testing.T) {
	f := newFixture(t)
	dev := f.cfg.Environments[0].Repository
	a := f.pushImage(t, dev+"/a")
	b := f.pushImage(t, dev+"/b")
	f.provenance(t, f.signer, a, b)
	f.provenance(t, f.signer, b, a) // a cycle, as only a forger could sign
	if _, ok, err := NewLineage(f.load(t), f.cfg, attest.Trusting(f.keys)).Check(f.ctx, f.report(t, a), time.Now()); ok || err != nil {
		t.Errorf("cycle: revoked=%v err=%v", ok, err)
	}
	chain := []name.Digest{f.pushImage(t, dev+"/c0")}
	f.provenance(t, f.signer, chain[0])
	for i := 1; i <= MaxLineageDepth+2; i++ {
		d := f.pushImage(t, dev+"/c"+string(rune('a'+i)))
		f.provenance(t, f.signer, d, chain[i-1])
		chain = append(chain, d)
	}
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(chain[0].DigestStr(), ActionRevoke, time.Now().Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	set := f.load(t)
	if _, ok, err := NewLineage(set, f.cfg, attest.Trusting(f.keys)).Check(f.ctx, f.report(t, chain[MaxLineageDepth]), time.Now()); !ok || err != nil {
		t.Errorf("%d bases deep: revoked=%v err=%v, want revoked", MaxLineageDepth, ok, err)
	}
	if _, ok, err := NewLineage(set, f.cfg, attest.Trusting(f.keys)).Check(f.ctx, f.report(t, chain[MaxLineageDepth+1]), time.Now()); ok || err != nil {
		t.Errorf("%d bases deep: revoked=%v err=%v, want the walk to stop at %d", MaxLineageDepth+1, ok, err, MaxLineageDepth)
	}
}
