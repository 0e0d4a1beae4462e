package promote

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
)

// TestRollbackHolds is the incident story: staging is rolled back away from
// the second digest, which dev's tag still points at. A bare promotion, a
// plan of every target and a build file's digest are all refused (exit 5,
// naming the rollback), the dry run says so and moves nothing; --digest
// without a reason is a usage error, with one it brings the digest back,
// records the reason and ends the pin.
func TestRollbackHolds(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	second := f.buildAndPromote(t)
	res, err := f.promoter.RollbackWith(f.ctx, RollbackRequest{Target: "app", Env: "staging", Reason: "INC-1: 500s"})
	if err != nil || res.Digest != first.DigestStr() || res.From != second.DigestStr() {
		t.Fatalf("rollback: %+v %v, want %s → %s", res, err, second.DigestStr(), first.DigestStr())
	}
	staging := &f.cfg.Environments[1]
	hist, err := History(f.ctx, f.promoter.opts.Verifier, "app", staging)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := Newest(hist); n.Action != receipt.ActionRollback || n.From != second.DigestStr() || n.Reason != "INC-1: 500s" {
		t.Fatalf("newest receipt %+v, want the rollback from the second digest with its reason", n)
	}
	stays := func(what string) {
		t.Helper()
		if d, _ := f.stagingTag(t); d.String() != first.DigestStr() {
			t.Fatalf("%s: staging runs %s, want the first digest still", what, d)
		}
	}
	refused := func(what string, err error) {
		t.Helper()
		if failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "rolled back out of staging") || !strings.Contains(err.Error(), "INC-1") {
			t.Errorf("%s: %v, want a policy refusal naming the rollback", what, err)
		}
		stays(what)
	}
	_, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	refused("bare promote", err)

	steps, err := f.promoter.Plan(f.ctx, []string{"app"}, "", "staging", 1)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := f.promoter.Preview(f.ctx, steps, 1)
	if err != nil || len(plan) != 1 || plan[0].Action != PlanRefuse || plan[0].Pin == nil || plan[0].Pin.Digest != second.DigestStr() || plan[0].ExitCode != 5 {
		t.Fatalf("dry run: %+v %v, want a refusal with the pin", plan, err)
	}
	stays("after the dry run")
	refused("promote --all", Worst(f.promoter.PromoteAll(f.ctx, steps, 1, false, nil)))

	built, err := f.promoter.PlanBuilt(f.ctx, "build.json", []Built{{Target: "app", Repository: second.Context().String(), Digest: second.DigestStr()}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	refused("promote --metadata-file", Worst(f.promoter.PromoteAll(f.ctx, built, 1, false, nil)))

	if _, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Digest: second.DigestStr()}); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("--digest without a reason: %v, want a usage error asking for --reason", err)
	}
	back := Request{Target: "app", To: "staging", Digest: second.DigestStr(), Reason: "fixed by config 42"}
	if plan, err := f.promoter.Preview(f.ctx, []Step{{Request: back}}, 1); err != nil || plan[0].Action != PlanPromote || plan[0].Pin == nil {
		t.Errorf("dry run of --digest --reason: %+v %v, want a promotion overriding the pin", plan, err)
	}
	if _, err := f.promoter.Promote(f.ctx, back); err != nil {
		t.Fatalf("--digest --reason: %v", err)
	}
	if d, _ := f.stagingTag(t); d.String() != second.DigestStr() {
		t.Errorf("staging runs %s, want the second digest back", d)
	}
	if hist, err = History(f.ctx, f.promoter.opts.Verifier, "app", staging); err != nil {
		t.Fatal(err)
	}
	if n, _ := Newest(hist); n.Action != receipt.ActionPromote || n.Reason != "fixed by config 42" {
		t.Errorf("newest receipt %+v, want the promotion with its reason", n)
	}
	if _, ok := pinOf(hist, second.DigestStr()); ok {
		t.Error("the explicit promotion did not end the pin")
	}
	if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err != nil || !res.AlreadyPromoted {
		t.Errorf("bare promote after the pin ended: %+v %v, want already promoted", res, err)
	}
}

// TestRollbackOfADriftedTagRestoresExpected: three digests promoted, the
// tag moved by hand to the first; drift's FIX and the bare rollback both go
// to the third (where bakery last put the tag), not the second.
func TestRollbackOfADriftedTagRestoresExpected(t *testing.T) {
	f := newFixture(t)
	first := f.buildAndPromote(t)
	f.buildAndPromote(t)
	third := f.buildAndPromote(t)
	stagingRepo, _ := name.NewRepository(f.prod.host+"/staging/app", name.Insecure)
	if err := remote.Tag(stagingRepo.Tag("staging"), mustGet(t, stagingRepo.Digest(first.DigestStr()))); err != nil {
		t.Fatal(err)
	}
	st, err := StatusOf(f.ctx, f.cfg, f.promoter.opts.Verifier, "app", "staging")
	if err != nil || !st.Drift || st.Expected != third.DigestStr() {
		t.Fatalf("status %+v %v, want drift expecting the third digest", st, err)
	}
	findings, err := Drift(f.ctx, f.cfg, []Status{st}, nil)
	if err != nil || len(findings) != 1 || findings[0].Fix != "bakery rollback app --env staging --digest "+third.DigestStr() {
		t.Fatalf("findings %+v %v, want one naming the third digest", findings, err)
	}
	res, err := f.promoter.RollbackWith(f.ctx, RollbackRequest{Target: "app", Env: "staging", Reason: "drift"})
	if err != nil || res.Digest != third.DigestStr() || res.From != first.DigestStr() {
		t.Fatalf("rollback: %+v %v, want %s → %s", res, err, first.DigestStr(), third.DigestStr())
	}
	if d, _ := f.stagingTag(t); d.String() != third.DigestStr() {
		t.Errorf("staging runs %s, want the third digest", d)
	}
	// drift's FIX, as printed, works too
	if err := remote.Tag(stagingRepo.Tag("staging"), mustGet(t, stagingRepo.Digest(first.DigestStr()))); err != nil {
		t.Fatal(err)
	}
	if res, err := f.promoter.Rollback(f.ctx, "app", "staging", third.DigestStr()); err != nil || res.Digest != third.DigestStr() {
		t.Errorf("rollback --to the expected digest: %+v %v", res, err)
	}
}

// TestPlanBuiltEveryHop: one build file drives dev → staging → prod. Asked
// for prod first, it is refused naming the missing promotion to staging;
// dev's tag moving on does not change which digest moves.
func TestPlanBuiltEveryHop(t *testing.T) {
	f := newFixture(t)
	f.cfg.Environments = append(f.cfg.Environments, config.Environment{Name: "prod", Repository: f.prod.host + "/prod",
		Tag: config.DefaultTagTemplate, Insecure: true, Policies: []string{"signed", "sbom", "provenance", "promoted_through"}})
	d := f.buildIntoDev(t)
	file := []Built{{Target: "app", Repository: d.Context().String(), Digest: d.DigestStr()}}
	f.buildIntoDev(t) // dev's tag moves on
	hop := func(to string) []Step {
		t.Helper()
		steps, err := f.promoter.PlanBuilt(f.ctx, "build.json", file, "", to)
		if err != nil || len(steps) != 1 {
			t.Fatalf("plan to %s: %+v %v", to, steps, err)
		}
		return steps
	}
	early := hop("prod")
	if err := early[0].Refused; failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "never promoted into staging") ||
		!strings.Contains(err.Error(), "bakery promote --metadata-file build.json --to staging") {
		t.Fatalf("prod before staging: %v, want a refusal naming the missing step", early[0].Refused)
	}
	if err := Worst(f.promoter.PromoteAll(f.ctx, early, 1, false, nil)); failure.ClassOf(err) != failure.Policy {
		t.Fatalf("running the refused step: %v", err)
	}
	for _, to := range []string{"staging", "prod"} {
		steps := hop(to)
		if steps[0].Refused != nil || steps[0].Digest != d.DigestStr() {
			t.Fatalf("hop to %s: %+v", to, steps[0])
		}
		outcomes := f.promoter.PromoteAll(f.ctx, steps, 1, false, nil)
		if err := Worst(outcomes); err != nil {
			t.Fatalf("hop to %s: %v", to, err)
		}
		if r := outcomes[0].Result; r.Digest != d.DigestStr() || r.Environment != to {
			t.Errorf("hop to %s: %+v", to, r)
		}
	}
	if _, err := f.promoter.PlanBuilt(f.ctx, "build.json", file, "", "dev"); failure.ClassOf(err) != failure.Config {
		t.Errorf("--to the build's own environment: %v, want a config error", err)
	}
}
