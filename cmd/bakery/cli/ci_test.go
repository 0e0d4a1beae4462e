package cli

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
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
	md, _ := os.ReadFile(summary)
	for _, want := range []string{"earlier step\n", "### bakery build: 2 target(s), 1 failed", "| `golden-base` | ✅ built |",
		"| `target \"web\"` | ❌ failed (build) |", "Dockerfile:3: no such file"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	b, _ := os.ReadFile(c.junit)
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatal(err)
	}
	s := suites.Suites[0]
	if s.Tests != 2 || s.Failures != 1 || s.Cases[0].Failure != nil || s.Cases[1].Failure == nil || s.Cases[0].Name != "golden-base" {
		t.Errorf("junit %s", b)
	}
}
