package imagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PredicateType is the in-toto test-result predicate's type: the statement
// attest signs binds a Result to the digest that was tested, and
// `cosign verify-attestation --type` names it.
const PredicateType = "https://in-toto.io/attestation/test-result/v0.1"

// Verdict is a test's or a suite run's outcome.
type Verdict string

// The verdicts of the test-result predicate.
const (
	Passed Verdict = "PASSED"
	// Warned passed with a warning: a teardown command failed, or (JUnit)
	// a test was skipped.
	Warned Verdict = "WARNED"
	Failed Verdict = "FAILED"
)

// Result is the test-result predicate of one suite run against one image
// (one platform of an index). Its first six fields are the predicate's
// own; Bakery holds bakery's, as an extension field, which the in-toto
// parsing rules let a producer add and require every other consumer to
// ignore. Only bakery's policies read it, and they deny when it is absent
// or does not match (the monotonic principle holds).
type Result struct {
	// Result is FAILED if any test failed, else WARNED if any warned, else
	// PASSED.
	Result Verdict `json:"result"`
	// Configuration names the suite file (or JUnit file) by its digest.
	Configuration []ResourceDescriptor `json:"configuration"`
	// URL links to the test run when there is one (a CI run).
	URL         string   `json:"url,omitempty"`
	PassedTests []string `json:"passedTests"`
	WarnedTests []string `json:"warnedTests"`
	FailedTests []string `json:"failedTests"`
	// Bakery is what bakery records beyond the predicate.
	Bakery Details `json:"bakery"`
}

// ResourceDescriptor is the in-toto ResourceDescriptor, with the fields a
// test configuration needs.
type ResourceDescriptor struct {
	Name             string            `json:"name,omitempty"`
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
}

// Details is bakery's extension of the predicate: what was tested where,
// when, and why each test that did not pass did not. A policy accepts a
// result only when Target, Platform and Environment match the digest's.
type Details struct {
	// Suite is the suite's name in bakery.yaml's tests:.
	Suite string `json:"suite"`
	// Target is bakery.yaml's target the image belongs to.
	Target string `json:"target,omitempty"`
	// Platform is the tested image's os/arch[/variant].
	Platform string `json:"platform,omitempty"`
	// Environment is the environment whose digest was tested; empty for
	// the run of `bakery build`, before the first environment moves.
	Environment string `json:"environment,omitempty"`
	// Runner names the node the commands ran on, or "junit" for results
	// produced elsewhere.
	Runner   string    `json:"runner,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Problems has one entry per test that failed or warned.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is why one test failed or warned, in a line.
type Problem struct {
	Test    string  `json:"test"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason"`
}

// maxReason bounds a Problem's reason: a result is evidence, not a log.
const maxReason = 512

func newResult(s *Suite, platform string, started time.Time) Result {
	r := Result{
		Configuration: []ResourceDescriptor{{Name: s.File, Digest: digestMap(s.Digest)}},
		PassedTests:   []string{}, WarnedTests: []string{}, FailedTests: []string{},
		Bakery: Details{Suite: s.Name, Platform: platform, Started: started},
	}
	return r
}

// digestMap turns "sha256:hex" into the ResourceDescriptor's digest set.
func digestMap(digest string) map[string]string {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return nil
	}
	return map[string]string{alg: hex}
}

// record adds one test's outcome.
func (r *Result) record(o outcome) {
	switch o.verdict {
	case Passed:
		r.PassedTests = append(r.PassedTests, o.name)
		return
	case Warned:
		r.WarnedTests = append(r.WarnedTests, o.name)
	default:
		r.FailedTests = append(r.FailedTests, o.name)
		o.verdict = Failed
	}
	reason := strings.Join(o.reasons, "; ")
	if len(reason) > maxReason {
		reason = reason[:maxReason-3] + "..."
	}
	r.Bakery.Problems = append(r.Bakery.Problems, Problem{Test: o.name, Verdict: o.verdict, Reason: reason})
}

// finish sets the run's verdict and end.
func (r *Result) finish(at time.Time) {
	r.Bakery.Finished = at
	switch {
	case len(r.FailedTests) > 0:
		r.Result = Failed
	case len(r.WarnedTests) > 0:
		r.Result = Warned
	default:
		r.Result = Passed
	}
}

// Summary says in one line what a person needs from the result: the
// verdict, the counts and the first failed tests with their reasons.
func (r Result) Summary() string {
	total := len(r.PassedTests) + len(r.WarnedTests) + len(r.FailedTests)
	s := fmt.Sprintf("suite %s %s: %d passed, %d warned, %d failed of %d", r.Bakery.Suite, r.Result, len(r.PassedTests), len(r.WarnedTests), len(r.FailedTests), total)
	const most = 3
	n := 0
	for _, p := range r.Bakery.Problems {
		if p.Verdict == Failed && n < most {
			s += fmt.Sprintf("; %s: %s", p.Test, p.Reason)
			n++
		}
	}
	if len(r.FailedTests) > most {
		s += fmt.Sprintf("; and %d more", len(r.FailedTests)-most)
	}
	return s
}

// ParsePredicate decodes a test-result predicate (the statement's
// "predicate") and checks what the predicate requires: a known result and
// a configuration. Unknown fields are ignored, as in-toto requires; a
// missing bakery object leaves Details empty, which no policy accepts.
func ParsePredicate(data []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return Result{}, fmt.Errorf("decoding the test-result predicate: %w", err)
	}
	switch r.Result {
	case Passed, Warned, Failed:
	default:
		return Result{}, fmt.Errorf("test-result predicate: result %q is not PASSED, WARNED or FAILED", r.Result)
	}
	if len(r.Configuration) == 0 {
		return Result{}, errors.New("test-result predicate: no configuration names the tests that ran")
	}
	if r.Result == Passed && len(r.FailedTests) > 0 {
		return Result{}, fmt.Errorf("test-result predicate: PASSED with %d failed tests", len(r.FailedTests))
	}
	return r, nil
}
