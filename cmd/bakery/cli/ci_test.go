package cli

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/promote"
)

// TestCIReports: the GitHub job summary gets a Markdown table appended, and
// --junit gets one test case per target, the failures marked as such.
func TestCIReports(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(env.GitHubStepSummary.String(), summary)
	buildErr := errors.Join(failure.New(failure.Build, `target "web"`, errors.New("Dockerfile:3: no such file"), ""))
	lines := append([]ciLine{{Target: "golden-base", Outcome: "built", Detail: "reg/dev/golden-base@sha256:ab (linux/amd64; signed by k)"}},
		failedTargets(buildErr)...)
	c := ciReport{junit: filepath.Join(dir, "junit.xml")}
	if err := c.write("bakery build", lines); err != nil {
		t.Fatal(err)
	}
	b, s := readCI(t, summary, c.junit, "earlier step\n", "### bakery build: 2 target(s), 1 failed", "| `golden-base` | ✅ built |",
		"| `target \"web\"` | ❌ failed (build) |", "Dockerfile:3: no such file")
	if s.Tests != 2 || s.Failures != 1 || s.Cases[0].Failure != nil || s.Cases[1].Failure == nil || s.Cases[0].Name != "golden-base" {
		t.Errorf("junit %s", b)
	}
}

// TestCIReportsTestResults: build's CI reports carry each suite's outcome
// per target and platform (the test evidence build read back): a JUnit
// test case each, failed tests as the failure's message, and the job
// summary counts them apart from the targets.
func TestCIReportsTestResults(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	t.Setenv(env.GitHubStepSummary.String(), summary)
	built := pipeline.Built{Result: builders.Result{Target: "app", Repository: "reg/dev/app", Platforms: []string{"linux/amd64", "linux/arm64"}}}
	tests := map[string][]promote.TestEvidence{"app": {
		{Suite: "smoke", Environment: "staging", Result: "FAILED", Finished: "2026-12-05T10:00:00Z", Failed: []string{"login", "logout"}},
		{Suite: "structure", Platform: "linux/amd64", Result: "PASSED", Finished: "2026-12-05T09:00:00Z", Failed: []string{}},
	}}
	c := ciReport{junit: filepath.Join(dir, "junit.xml")}
	if err := c.write("bakery build", buildLines([]pipeline.Built{built}, tests, nil)); err != nil {
		t.Fatal(err)
	}
	b, s := readCI(t, summary, c.junit, "### bakery build: 1 target(s), 0 failed; 2 test result(s), 1 failed", "| `app` | ✅ built |",
		"| `app` | ❌ test smoke in staging: FAILED | failed: login, logout |", "| `app` | ✅ test structure linux/amd64: PASSED |")
	if s.Tests != 3 || s.Failures != 1 || len(s.Cases) != 3 {
		t.Fatalf("junit %s", b)
	}
	if c := s.Cases[1]; c.Name != "app test smoke in staging" || c.Failure == nil || c.Failure.Message != "FAILED" || c.Failure.Text != "failed: login, logout" {
		t.Errorf("the failed suite's case: %+v", c)
	}
	if c := s.Cases[2]; c.Name != "app test structure linux/amd64" || c.Failure != nil {
		t.Errorf("the passed suite's case: %+v", c)
	}
}

// readCI checks that the job summary holds each of want and returns the
// JUnit file and its one suite.
func readCI(t *testing.T, summary, junit string, want ...string) ([]byte, junitSuite) {
	t.Helper()
	md, _ := os.ReadFile(summary)
	for _, w := range want {
		if !strings.Contains(string(md), w) {
			t.Errorf("summary lacks %q:\n%s", w, md)
		}
	}
	b, _ := os.ReadFile(junit)
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit %s: %v", b, err)
	}
	return b, suites.Suites[0]
}
