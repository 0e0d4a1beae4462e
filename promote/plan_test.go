package promote

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// render renders planned steps as "target:from>to" or "target:skip".
func render(s []Step, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, st := range s {
		if st.Skip != "" {
			out = append(out, st.Target+":skip")
		} else {
			out = append(out, st.Target+":"+st.From+">"+st.To)
		}
	}
	return strings.Join(out, " ")
}

// TestPlanFollowsTheNewestReceipt: with no destination, each target moves
// one environment on from where it was last built or promoted; with one,
// a target whose destination holds a newer receipted digest is left alone.
func TestPlanFollowsTheNewestReceipt(t *testing.T) {
	f := newFixture(t)
	f.cfg.Targets["web"] = &config.Target{Name: "web", Type: config.TypeContainer}
	both := []string{"app", "web"}

	if got := render(f.promoter.Plan(f.ctx, both, "", "", 2)); got != "app:skip web:skip" {
		t.Errorf("nothing built: %s", got)
	}
	f.buildIntoDev(t)
	webA := f.buildTargetIntoDev(t, "web")
	plan, err := f.promoter.Plan(f.ctx, both, "", "", 2)
	if got := render(plan, err); got != "app:dev>staging web:dev>staging" {
		t.Fatalf("after a build: %s", got)
	}
	outcomes := f.promoter.PromoteAll(f.ctx, plan, 2, false, nil)
	if err := Worst(outcomes); err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		if o.Result == nil || !o.Result.Receipt {
			t.Errorf("%s: %+v", o.Step.Target, o.Result)
		}
	}
	if got := render(f.promoter.Plan(f.ctx, both, "", "", 2)); got != "app:skip web:skip" {
		t.Errorf("both in the last environment: %s", got)
	}
	f.buildIntoDev(t)
	if got := render(f.promoter.Plan(f.ctx, both, "", "", 2)); got != "app:dev>staging web:skip" {
		t.Errorf("app rebuilt: %s", got)
	}

	// web: B is built and promoted (a fix), then dev's tag is moved back to
	// the older A by hand. --to staging must not put A over B.
	webB := f.buildTargetIntoDev(t, "web")
	if _, err := f.promoter.Promote(f.ctx, Request{Target: "web", To: "staging"}); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(webA)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(webA.Context().Tag("dev"), desc); err != nil {
		t.Fatal(err)
	}
	plan, err = f.promoter.Plan(f.ctx, both, "", "staging", 2)
	if got := render(plan, err); got != "app:dev>staging web:skip" || !strings.Contains(plan[1].Skip, "newer") {
		t.Errorf("--to staging with staging newer for web: %s (%q)", got, plan[1].Skip)
	}
	if _, ok := f.stagingTag(t); !ok {
		t.Fatal("no staging tag")
	}
	if d, _ := f.promoter.place(f.ctx, "web", &f.cfg.Environments[1]); d.digest != webB.DigestStr() {
		t.Errorf("staging runs %s, want B %s", d.digest, webB.DigestStr())
	}
	if _, err := f.promoter.Plan(f.ctx, []string{"nope"}, "", "", 1); failure.ClassOf(err) != failure.Config {
		t.Errorf("unknown target: %v", err)
	}
	if _, err := f.promoter.Plan(f.ctx, both, "", "dev", 1); failure.ClassOf(err) != failure.Config {
		t.Errorf("--to the first environment: %v", err)
	}
}

// TestPlanBuiltPromotesExactlyWhatWasBuilt: the metadata file's digest is
// promoted even after dev's tag moved on, from the environment it was built
// into.
func TestPlanBuiltPromotesExactlyWhatWasBuilt(t *testing.T) {
	f := newFixture(t)
	built := f.buildIntoDev(t)
	newer := f.buildIntoDev(t) // dev's tag moves on after the build job
	plan, err := f.promoter.PlanBuilt(f.ctx, "build.json", []Built{{Target: "app", Repository: built.Context().String(), Digest: built.DigestStr()}}, "", "")
	if got := render(plan, err); got != "app:dev>staging" || plan[0].Digest != built.DigestStr() {
		t.Fatalf("plan %s digest %s", got, plan[0].Digest)
	}
	outcomes := f.promoter.PromoteAll(f.ctx, plan, 1, false, nil)
	if err := Worst(outcomes); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.stagingTag(t); got.String() != built.DigestStr() || got.String() == newer.DigestStr() {
		t.Errorf("staging runs %s, want the built %s", got, built.DigestStr())
	}
	for _, bad := range []Built{
		{Target: "app", Repository: "elsewhere.example/app", Digest: built.DigestStr()},
		{Target: "nope", Repository: built.Context().String(), Digest: built.DigestStr()},
	} {
		if _, err := f.promoter.PlanBuilt(f.ctx, "build.json", []Built{bad}, "", ""); failure.ClassOf(err) != failure.Config {
			t.Errorf("%+v: %v, want a config error", bad, err)
		}
	}
}

// TestPromoteAllKeepsGoingUnlessFailFast: one target's failure leaves the
// others promoted and sets the exit class; --fail-fast starts nothing after it.
func TestPromoteAllKeepsGoingUnlessFailFast(t *testing.T) {
	f := newFixture(t)
	good := f.buildIntoDev(t)
	missing := good.Context().Digest("sha256:" + strings.Repeat("0", 64))
	steps := []Step{
		{Request: Request{Target: "app", To: "staging", Digest: missing.DigestStr()}},
		{Request: Request{Target: "app", To: "staging", Digest: good.DigestStr()}},
		{Request: Request{Target: "app"}, Skip: "nothing to do"},
	}
	out := f.promoter.PromoteAll(f.ctx, steps, 1, false, nil)
	if out[0].Err == nil || out[1].Err != nil || out[1].Result == nil || !out[1].Result.Receipt || out[2].Result != nil {
		t.Fatalf("outcomes %+v", out)
	}
	if worst := Worst(out); !errors.Is(worst, out[0].Err) {
		t.Errorf("worst %v, want the failure %v", worst, out[0].Err)
	}

	var reported []string
	out = f.promoter.PromoteAll(f.ctx, steps, 1, true, func(o Outcome) { reported = append(reported, o.Step.Digest) })
	if out[0].Err == nil || !out[1].NotRun || out[1].Result != nil {
		t.Errorf("--fail-fast outcomes %+v", out)
	}
	if len(reported) != 2 {
		t.Errorf("reported %v, want the failure and the skip", reported)
	}
}

// TestPromoteReusesThePlansVerification: the promotion of a planned step
// reuses the plan's verification of the source, and verifies again when
// the report is not about the digest it promotes (the tag moved since) or
// did not verify.
func TestPromoteReusesThePlansVerification(t *testing.T) {
	f := newFixture(t)
	ref := f.buildIntoDev(t)
	var n atomic.Int64
	count := func(*http.Request) { n.Add(1) }
	f.dev.hook.Store(&count)
	requests := func(verified *attest.Report) int64 {
		t.Helper()
		n.Store(0)
		if _, _, err := f.promoter.decide(f.ctx, ref, "app", "dev", &f.cfg.Environments[1], verified, false); err != nil {
			t.Fatal(err)
		}
		return n.Load()
	}
	requests(nil) // the first decision also reads the revocation lists, once per promoter
	fresh := requests(nil)
	rep, err := f.promoter.opts.Verifier.Verify(f.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if reused := requests(rep); reused >= fresh {
		t.Errorf("with the plan's report: %d requests to dev, without: %d", reused, fresh)
	}
	other := *rep
	other.Reference = ref.Context().Digest("sha256:" + strings.Repeat("1", 64)).String()
	unverified := *rep
	unverified.Verified = false
	for name, stale := range map[string]*attest.Report{"another digest": &other, "unverified": &unverified} {
		if got := requests(stale); got != fresh {
			t.Errorf("%s: %d requests, want a full verification (%d)", name, got, fresh)
		}
	}
	steps, err := f.promoter.Plan(f.ctx, []string{"app"}, "", "staging", 1)
	if err != nil || steps[0].verified == nil || steps[0].verified.Reference != ref.String() {
		t.Fatalf("plan: %v, %+v", err, steps)
	}
	if out := f.promoter.PromoteAll(f.ctx, steps, 1, false, nil); out[0].Err != nil || !out[0].Result.Receipt {
		t.Fatalf("promote of the planned step: %+v", out[0])
	}
}
