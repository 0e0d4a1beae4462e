package promote

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
)

// result is a test-result attestation of suite for target on platform in
// env, finished at finished, about subjects, failing failed.
func result(target, suite, platform, env, finished string, failed []string, subjects ...string) attest.AttestationInfo {
	verdict := "PASSED"
	if len(failed) > 0 {
		verdict = "FAILED"
	}
	f, _ := json.Marshal(append([]string{}, failed...))
	pred := fmt.Sprintf(`{"result":%q,"configuration":[{"name":"s.yaml","digest":{"sha256":"00"}}],"passedTests":["ok"],"warnedTests":[],"failedTests":%s,`+
		`"bakery":{"suite":%q,"target":%q,"platform":%q,"environment":%q,"runner":"n1","started":"2026-01-01T09:00:00Z","finished":%q}}`,
		verdict, f, suite, target, platform, env, finished)
	return attest.AttestationInfo{PredicateType: imagetest.PredicateType, Predicate: json.RawMessage(pred), Subjects: subjects, KeyID: "k"}
}

// TestTestsNewestBoundResultCounts: per suite, platform and environment the
// newest bound result is the evidence (a later FAILED withdraws a PASSED, a
// tie in the same second goes to the worse verdict), with its failed tests;
// results of another target or claiming a platform their subjects do not
// name are not evidence at all.
func TestTestsNewestBoundResultCounts(t *testing.T) {
	idx, amd, arm := "r/app@sha256:idx", "r/app@sha256:aaa", "r/app@sha256:bbb"
	rep := &attest.Report{
		Platforms: []attest.PlatformImage{{Platform: "linux/amd64", Digest: "sha256:aaa"}, {Platform: "linux/arm64", Digest: "sha256:bbb"}},
		Attestations: []attest.AttestationInfo{
			{PredicateType: attest.PredicateSLSAv1, Predicate: json.RawMessage(`{}`)},
			// amd64 at build: PASSED, then a later FAILED withdraws it.
			result("app", "structure", "linux/amd64", "", "2026-01-01T10:00:00Z", nil, idx, amd),
			result("app", "structure", "linux/amd64", "", "2026-01-01T11:00:00Z", []string{"the app runs"}, idx, amd),
			// arm64: a FAILED, then a later PASSED counts.
			result("app", "structure", "linux/arm64", "", "2026-01-01T10:00:00Z", []string{"x"}, idx, arm),
			result("app", "structure", "linux/arm64", "", "2026-01-01T10:30:00Z", nil, idx, arm),
			// smoke in staging: the same second, PASSED and FAILED: FAILED.
			result("app", "smoke", "", "staging", "2026-01-01T12:00:00.100Z", nil, idx),
			result("app", "smoke", "", "staging", "2026-01-01T12:00:00.900Z", []string{"login"}, idx),
			// Not evidence: another target's, newer than any, and one
			// claiming arm64 about the amd64 image.
			result("web", "structure", "linux/amd64", "", "2026-01-02T10:00:00Z", nil, idx, amd),
			result("app", "structure", "linux/arm64", "", "2026-01-02T10:00:00Z", []string{"forged"}, idx, amd),
		},
	}
	got := Tests(rep, "app")
	want := []TestEvidence{
		{Suite: "smoke", Environment: "staging", Result: "FAILED", Finished: "2026-01-01T12:00:00Z", Failed: []string{"login"}, KeyID: "k"},
		{Suite: "structure", Platform: "linux/amd64", Result: "FAILED", Finished: "2026-01-01T11:00:00Z", Failed: []string{"the app runs"}, KeyID: "k"},
		{Suite: "structure", Platform: "linux/arm64", Result: "PASSED", Finished: "2026-01-01T10:30:00Z", Failed: []string{}, KeyID: "k"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tests =\n%+v\nwant\n%+v", got, want)
	}
	if s := TestSummary(got, []string{"structure", "smoke"}); s != "2 FAILED" {
		t.Errorf("summary %q, want 2 FAILED", s)
	}
	if got := Tests(rep, "other"); got == nil || len(got) != 0 {
		t.Errorf("Tests of a target with no result = %#v, want an empty list", got)
	}
}

func TestTestSummary(t *testing.T) {
	pass := TestEvidence{Suite: "structure", Result: "PASSED"}
	warn := TestEvidence{Suite: "structure", Result: "WARNED"}
	fail := TestEvidence{Suite: "smoke", Result: "FAILED"}
	for _, tc := range []struct {
		ev     []TestEvidence
		suites []string
		want   string
	}{
		{nil, nil, ""},
		{nil, []string{"structure"}, "untested"},
		{[]TestEvidence{pass, pass}, []string{"structure"}, "2/2 passed"},
		{[]TestEvidence{pass, warn}, []string{"structure"}, "1/2 passed"},
		{[]TestEvidence{pass, fail}, []string{"structure", "smoke"}, "1 FAILED"},
		{[]TestEvidence{pass}, []string{"structure", "smoke"}, "1/2 passed"},
		{[]TestEvidence{pass}, nil, "1/1 passed"},
	} {
		if got := TestSummary(tc.ev, tc.suites); got != tc.want {
			t.Errorf("TestSummary(%v, %v) = %q, want %q", tc.ev, tc.suites, got, tc.want)
		}
	}
}

// attachTest signs a test result of suite for target about ref's platform
// image of platform (about ref alone when platform is ""), finished at
// finished, failing failed, and attaches it as bakery does.
func (f *fixture) attachTest(t *testing.T, ref name.Digest, target, suite, platform, env string, finished time.Time, failed ...string) {
	t.Helper()
	img := ref
	if platform != "" {
		plats, err := attest.Platforms(f.ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range plats {
			if p.Platform == platform {
				img = p.Ref
			}
		}
	}
	st, err := attesttest.TestResult(ref, img, target, suite, platform, env, finished, failed...)
	if err != nil {
		t.Fatal(err)
	}
	if err := attest.Attach(f.ctx, f.signer, ref, []attest.Statement{st}); err != nil {
		t.Fatal(err)
	}
}

// TestStatusAndHistoryShowTestEvidence: status and history read a digest's
// test evidence from the registry (in-process) as verify does: the newest
// bound result per suite and platform, a later FAILED counting; a result of
// another target does not; and the digest carries it when promoted.
func TestStatusAndHistoryShowTestEvidence(t *testing.T) {
	f := newFixture(t)
	f.cfg.Targets["app"].Tests = []config.Test{{Name: "structure", File: "s.yaml"}, {Name: "smoke", External: true}}
	ref := f.buildIntoDev(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.attachTest(t, ref, "app", "structure", "linux/amd64", "", at)
	f.attachTest(t, ref, "app", "structure", "linux/arm64", "", at)
	f.attachTest(t, ref, "app", "structure", "linux/arm64", "", at.Add(time.Minute), "the app runs")
	f.attachTest(t, ref, "web", "structure", "linux/amd64", "", at.Add(2*time.Minute), "not app's")

	want := []TestEvidence{
		{Suite: "structure", Platform: "linux/amd64", Result: "PASSED", Finished: at.UTC().Format(time.RFC3339), Failed: []string{}},
		{Suite: "structure", Platform: "linux/arm64", Result: "FAILED", Finished: at.Add(time.Minute).UTC().Format(time.RFC3339), Failed: []string{"the app runs"}},
	}
	same := func(what string, got []TestEvidence) {
		t.Helper()
		got = append([]TestEvidence(nil), got...)
		for i := range got {
			if got[i].KeyID == "" {
				t.Errorf("%s: evidence %d has no key id", what, i)
			}
			got[i].KeyID = ""
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n%+v\nwant\n%+v", what, got, want)
		}
	}
	st, err := CurrentStatus(f.ctx, f.cfg, f.promoter.opts.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Environment != "dev" || st[0].Digest != ref.DigestStr() {
		t.Fatalf("status %+v", st)
	}
	same("status in dev", st[0].Tests)
	if strings.Join(st[0].Suites, ",") != "structure,smoke" || TestSummary(st[0].Tests, st[0].Suites) != "1 FAILED" {
		t.Errorf("status suites %v, summary %q", st[0].Suites, TestSummary(st[0].Tests, st[0].Suites))
	}
	hist, err := HistoryWithTests(f.ctx, f.promoter.opts.Verifier, "app", &f.cfg.Environments[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Action != "build" {
		t.Fatalf("history %+v", hist)
	}
	same("history in dev", hist[0].Tests)
	if plain, err := History(f.ctx, f.promoter.opts.Verifier, "app", &f.cfg.Environments[0]); err != nil || len(plain) != 1 || plain[0].Tests != nil {
		t.Errorf("History (receipts only, as drift and promote read it): %+v %v, want the entry without test evidence", plain, err)
	}
	var back Entry
	if b, err := json.Marshal(hist[0]); err != nil || json.Unmarshal(b, &back) != nil || !strings.Contains(string(b), `"tests":[{"suite":"structure"`) {
		t.Errorf("history entry JSON %s (%v)", b, err)
	}
	same("history entry read back from JSON", back.Tests)
	read, err := ReadTests(f.ctx, f.promoter.opts.Verifier, ref, "app")
	if err != nil {
		t.Fatal(err)
	}
	same("ReadTests", read)
	// The promotion's result carries what its decision saw, and the copy in
	// staging holds the same evidence.
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	same("the promotion's result", res.Tests)
	st, err = CurrentStatus(f.ctx, f.cfg, f.promoter.opts.Verifier)
	if err != nil || st[1].Environment != "staging" {
		t.Fatalf("status %+v %v", st, err)
	}
	same("status in staging", st[1].Tests)
}
