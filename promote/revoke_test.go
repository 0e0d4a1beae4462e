package promote

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

func (f *fixture) revoke(t *testing.T, digest string) {
	t.Helper()
	now := time.Now().UTC().Format(revoke.TimeFormat)
	e := revoke.Entry{Digest: digest, Action: revoke.ActionRevoke, Reason: "CVE-2024-3094", By: "ops", Time: now, EffectiveAt: now}
	if err := revoke.Write(f.ctx, f.cfg, f.signer, f.promoter.opts.Verifier, []revoke.Entry{e}); err != nil {
		t.Fatal(err)
	}
	f.promoter = New(f.promoter.opts) // a new command reads the list anew
}

// TestRevocationIsHonoured: status shows a revoked digest and the rollback
// that fixes it, rollback skips revoked digests and refuses one named by
// --to, and promote denies a revoked digest with the not_revoked policy
// even though staging does not list it.
func TestRevocationIsHonoured(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	second := f.buildAndPromote(t)
	third := f.buildAndPromote(t)
	f.revoke(t, second.DigestStr())
	f.revoke(t, third.DigestStr())

	st, err := StatusOf(f.ctx, f.cfg, f.promoter.opts.Verifier, "app", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if st.Revoked == nil || st.Revoked.Reason != "CVE-2024-3094" || st.RollbackTo != first.DigestStr() || st.Healthy() {
		t.Errorf("status of a revoked digest: %+v, want revoked with rollback to the first", st)
	}
	if _, err := f.promoter.Rollback(f.ctx, "app", "staging", second.DigestStr()); failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("rollback --to a revoked digest: %v, want a policy refusal naming the revocation", err)
	}
	res, err := f.promoter.Rollback(f.ctx, "app", "staging", "")
	if err != nil || res.Digest != first.DigestStr() {
		t.Errorf("rollback: %+v %v, want the first digest (the second is revoked)", res, err)
	}

	fourth := f.buildIntoDev(t)
	f.revoke(t, fourth.DigestStr())
	res, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if failure.ClassOf(err) != failure.Policy || res == nil || res.Decision == nil || len(res.Decision.Violations) != 1 ||
		res.Decision.Violations[0].Policy != "not_revoked" || !strings.Contains(res.Decision.Violations[0].Message, "CVE-2024-3094") {
		t.Errorf("promote a revoked digest: %+v %v, want a not_revoked denial", res, err)
	}
	if d, _ := f.stagingTag(t); d.String() != first.DigestStr() {
		t.Errorf("staging runs %s after a denied promotion, want the first digest", d)
	}
}

// TestCascadeFollowsProvenance: revoking a base revokes what was built on it
// (through its index or a platform image), transitively and across
// targets, and nothing else.
func TestCascadeFollowsProvenance(t *testing.T) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	known := []Known{
		{Target: "golden-base", Environment: "dev", Digest: d("b"), Platforms: []string{d("p")}},
		{Target: "golden-base", Environment: "prod", Digest: d("b"), Platforms: []string{d("p")}},
		{Target: "app", Environment: "dev", Digest: d("a"), Dependencies: []string{d("p")}},
		{Target: "app", Environment: "staging", Digest: d("a"), Dependencies: []string{d("p")}},
		{Target: "worker", Environment: "dev", Digest: d("c"), Dependencies: []string{d("a")}},
		{Target: "other", Environment: "dev", Digest: d("e"), Dependencies: []string{d("f")}},
	}
	root := revoke.Entry{Digest: d("b"), Action: revoke.ActionRevoke, Reason: "xz"}
	var got []string
	for _, e := range Cascade(root, known) {
		got = append(got, e.Target+"<-"+e.Cause[7:8]+":"+e.Reason)
	}
	if strings.Join(got, " ") != "app<-b:xz worker<-a:xz" {
		t.Errorf("cascade %v", got)
	}
}

// TestKnownDigests lists every receipted digest per target and environment.
func TestKnownDigests(t *testing.T) {
	f := newFixture(t)
	promoted := f.buildAndPromote(t)
	built := f.buildIntoDev(t)
	known, err := KnownDigests(f.ctx, f.cfg, f.promoter.opts.Verifier, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range known {
		got = append(got, k.Environment+":"+k.Digest)
		if len(k.Platforms) != 2 {
			t.Errorf("%s: platforms %v, want the index's two", k.Digest, k.Platforms)
		}
	}
	want := []string{"dev:" + promoted.DigestStr(), "dev:" + built.DigestStr(), "staging:" + promoted.DigestStr()}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, " "), w) {
			t.Errorf("known %v lacks %s", got, w)
		}
	}
	if len(got) != 3 {
		t.Errorf("known %v, want 3", got)
	}
}

// TestKnownDigest finds one digest as KnownDigests lists it, reading only
// that digest: a built and promoted one with its target, and not a digest
// bakery never built.
func TestKnownDigest(t *testing.T) {
	f := newFixture(t)
	d := f.buildAndPromote(t)
	k, ok, err := KnownDigest(f.ctx, f.cfg, f.promoter.opts.Verifier, d.DigestStr(), 4)
	if err != nil || !ok || k.Target != "app" || k.Digest != d.DigestStr() || len(k.Platforms) == 0 {
		t.Errorf("KnownDigest(%s) = %+v, %v, %v", d.DigestStr(), k, ok, err)
	}
	all, err := KnownDigests(f.ctx, f.cfg, f.promoter.opts.Verifier, 4)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, a := range all {
		listed = listed || (a.Digest == k.Digest && a.Target == k.Target && strings.Join(a.Platforms, ",") == strings.Join(k.Platforms, ","))
	}
	if !listed {
		t.Errorf("KnownDigest gave %+v, which KnownDigests does not list: %+v", k, all)
	}
	never := "sha256:" + strings.Repeat("ab", 32)
	if k, ok, err := KnownDigest(f.ctx, f.cfg, f.promoter.opts.Verifier, never, 4); err != nil || ok {
		t.Errorf("a digest bakery never built: %+v, %v, %v", k, ok, err)
	}
}

// TestAlreadyPromotedIsDecidedOnTheDestination: promoting again what the
// environment already runs, with its receipt, reads only the source tag
// from the source registry and writes nothing; the policies are evaluated
// again on the destination, so that a digest revoked since is denied, not
// reported as done.
func TestAlreadyPromotedIsDecidedOnTheDestination(t *testing.T) {
	f := newFixture(t)
	d := f.buildAndPromote(t)
	var devReads, prodWrites atomic.Int64
	countDev := func(*http.Request) { devReads.Add(1) }
	countProd := func(r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			prodWrites.Add(1)
		}
	}
	f.dev.hook.Store(&countDev)
	f.prod.hook.Store(&countProd)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || !res.AlreadyPromoted || res.Decision == nil || !res.Decision.Allowed || res.Receipt {
		t.Fatalf("promote again: %+v %v, want already promoted with an allowing decision", res, err)
	}
	if devReads.Load() > 2 || prodWrites.Load() != 0 {
		t.Errorf("already promoted: %d requests to dev (want the tag only), %d writes to staging (want none)", devReads.Load(), prodWrites.Load())
	}

	f.revoke(t, d.DigestStr())
	prodWrites.Store(0)
	res, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if failure.ClassOf(err) != failure.Policy || res == nil || res.AlreadyPromoted || res.Decision == nil || res.Decision.Allowed {
		t.Errorf("promote again a revoked digest: %+v %v, want a not_revoked denial", res, err)
	}
	if prodWrites.Load() != 0 {
		t.Errorf("a denied no-op wrote %d times to staging", prodWrites.Load())
	}
}

// TestRevoke is bakery revoke's workflow: a prefix resolves to the digest,
// one entry is signed by the actor in ctx without asking, and status then
// shows the digest revoked; a digest bakery never built is refused (exit 2)
// before anything is written.
func TestRevoke(t *testing.T) {
	f := newFixture(t)
	d := f.buildAndPromote(t)
	now := time.Now().UTC()
	asked := false
	r := Revocation{Digest: d.DigestStr()[:23], Reason: "CVE-2024-3094", Now: now, EffectiveAt: now,
		Confirm: func([]revoke.Entry) error { asked = true; return nil }}
	res, err := f.promoter.Revoke(receipt.WithActor(f.ctx, "ops"), r)
	if err != nil || asked || res == nil || len(res.Entries) != 1 {
		t.Fatalf("Revoke: %+v, %v (asked %v), want one entry, not asked", res, err, asked)
	}
	if e := res.Entries[0]; e.Digest != d.DigestStr() || e.Target != "app" || e.Action != revoke.ActionRevoke || !strings.HasPrefix(e.By, "ops (key ") {
		t.Errorf("entry %+v, want the full digest of app, revoked by ops with the key", e)
	}
	st, err := StatusOf(f.ctx, f.cfg, f.promoter.opts.Verifier, "app", "staging")
	if err != nil || st.Revoked == nil || st.Revoked.Reason != "CVE-2024-3094" {
		t.Errorf("status after Revoke: %+v, %v, want revoked", st, err)
	}
	r.Digest = "sha256:" + strings.Repeat("ab", 32)
	if _, err := f.promoter.Revoke(f.ctx, r); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "no such digest") {
		t.Errorf("revoking a digest bakery never built: %v, want a config error", err)
	}
}
