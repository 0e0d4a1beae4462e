package promote

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
)

// TestEvidence is the test result that counts for one suite, platform and
// environment of a digest: the newest one bound to the digest and target
// (see Tests). It is what every command shows of a digest's tests.
type TestEvidence struct {
	Suite string `json:"suite"`
	// Platform is "" for a result about the whole image (JUnit).
	Platform string `json:"platform"`
	// Environment is "" for the run of bakery build.
	Environment string `json:"environment"`
	// Result is PASSED, WARNED or FAILED.
	Result string `json:"result"`
	// Finished is when the run ended, RFC 3339 in whole seconds, as the
	// policies compare it.
	Finished string `json:"finished"`
	// Failed names the tests that failed.
	Failed []string `json:"failed"`
	KeyID  string   `json:"keyId"`
}

// Tests is the test evidence of a verified report for target: of the
// verified test results bound to target (and, for a result about one
// platform, to that platform's image among its signed subjects), the newest
// by Finished for each suite, platform and environment, as the tested and
// tested_in policies count them: a later FAILED withdraws an earlier
// PASSED, and of results that finished in the same second the worst
// verdict counts. Results that do not count are not evidence and are left
// out. Sorted by suite, platform and environment; never nil.
func Tests(rep *attest.Report, target string) []TestEvidence {
	newest := map[[3]string]TestEvidence{}
	for _, a := range rep.Attestations {
		if a.PredicateType != imagetest.PredicateType {
			continue
		}
		r, ok := boundResult(a, target, rep.Platforms)
		if !ok {
			continue
		}
		e := TestEvidence{Suite: r.Bakery.Suite, Platform: r.Bakery.Platform, Environment: r.Bakery.Environment,
			Result: string(r.Result), Finished: finishedOf(r), Failed: append([]string{}, r.FailedTests...), KeyID: a.KeyID}
		k := [3]string{e.Suite, e.Platform, e.Environment}
		if old, ok := newest[k]; !ok || e.Finished > old.Finished || e.Finished == old.Finished && rank(e.Result) > rank(old.Result) {
			newest[k] = e
		}
	}
	out := make([]TestEvidence, 0, len(newest))
	for _, e := range newest {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Suite+"\x00"+a.Platform+"\x00"+a.Environment < b.Suite+"\x00"+b.Platform+"\x00"+b.Environment
	})
	return out
}

// ReadTests reads d's test evidence for target from the registry: only
// its test results, verified with verifier, bound and chosen as Tests
// does (what build shows of the results its suites recorded).
func ReadTests(ctx context.Context, verifier *attest.Verifier, d name.Digest, target string) ([]TestEvidence, error) {
	rep, err := attested(ctx, d, verifier, imagetest.PredicateType)
	if err != nil {
		return nil, err
	}
	return Tests(rep, target), nil
}

// finishedOf is a result's end as the policy input says it (RFC 3339, UTC,
// whole seconds): fixed width, so it orders as a string.
func finishedOf(r imagetest.Result) string {
	return r.Bakery.Finished.UTC().Format(time.RFC3339)
}

// rank orders verdicts from best to worst, as policies/testresults.rego does.
func rank(result string) int {
	switch imagetest.Verdict(result) {
	case imagetest.Passed:
		return 0
	case imagetest.Warned:
		return 1
	case imagetest.Failed:
		return 2
	}
	return 3
}

// Suites names every suite target configures (those bakery runs and
// external ones), in the config's order; none for an unknown target.
func Suites(cfg *config.Config, target string) []string {
	t, err := cfg.LookupTarget(target)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range t.Tests {
		out = append(out, s.Name)
	}
	return out
}

// TestSummary says a digest's test evidence in a few words, the same in
// every command: "N FAILED" when any result that counts FAILED, else
// "P/T passed", P the results that PASSED and T every result that counts
// plus one for each of suites without any (a WARNED result or an untested
// suite is among T, not P); "untested" when suites are configured and no
// result counts, "" when there is neither a suite nor a result.
func TestSummary(ev []TestEvidence, suites []string) string {
	passed, failed := 0, 0
	for _, e := range ev {
		switch imagetest.Verdict(e.Result) {
		case imagetest.Passed:
			passed++
		case imagetest.Warned:
		default:
			failed++
		}
	}
	untested := 0
	for _, s := range suites {
		if !slices.ContainsFunc(ev, func(e TestEvidence) bool { return e.Suite == s }) {
			untested++
		}
	}
	switch {
	case len(ev) == 0 && untested == 0:
		return ""
	case len(ev) == 0:
		return "untested"
	case failed > 0:
		return fmt.Sprintf("%d FAILED", failed)
	}
	return fmt.Sprintf("%d/%d passed", passed, len(ev)+untested)
}

// TestFailed says whether any evidence is FAILED.
func TestFailed(ev []TestEvidence) bool {
	return slices.ContainsFunc(ev, func(e TestEvidence) bool { return e.Result == string(imagetest.Failed) })
}
