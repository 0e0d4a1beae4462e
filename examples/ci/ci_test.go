// Package ci_test checks the CI examples: the GitHub Actions workflow with
// actionlint (the linter GitHub users run), and both pipelines for the two
// commands bakery promises CI.
package ci_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

func TestGitHubWorkflowPassesActionlint(t *testing.T) {
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile("github-actions.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s", e)
	}
	// The check can fail: a broken workflow is reported.
	bad := []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ secrets }\n")
	if errs, err := l.Lint("bad.yml", bad, nil); err != nil || len(errs) == 0 {
		t.Errorf("actionlint found nothing wrong in a broken workflow (%v)", err)
	}
}

// TestPipelinesRunBuildThenPromote: both examples run exactly bakery build
// then bakery promote of what it built, and keep the reports.
func TestPipelinesRunBuildThenPromote(t *testing.T) {
	for file, steps := range map[string]func(doc map[string]any) []string{
		"github-actions.yml": func(doc map[string]any) []string {
			var runs []string
			job := doc["jobs"].(map[string]any)["bake-and-promote"].(map[string]any)
			for _, s := range job["steps"].([]any) {
				if run, ok := s.(map[string]any)["run"].(string); ok {
					runs = append(runs, run)
				}
			}
			return runs
		},
		"gitlab-ci.yml": func(doc map[string]any) []string {
			var runs []string
			for _, s := range doc["bake-and-promote"].(map[string]any)["script"].([]any) {
				runs = append(runs, s.(string))
			}
			return runs
		},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var bakery []string
		for _, r := range steps(doc) {
			if strings.HasPrefix(r, "bakery ") {
				bakery = append(bakery, r)
			}
		}
		if len(bakery) != 2 || !strings.HasPrefix(bakery[0], "bakery build --metadata-file build.json") ||
			!strings.HasPrefix(bakery[1], "bakery promote --metadata-file build.json") {
			t.Errorf("%s runs %q, want bakery build then bakery promote of its metadata file", file, bakery)
		}
		if !bytes.Contains(b, []byte("--junit")) {
			t.Errorf("%s keeps no JUnit report", file)
		}
	}
}
