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

func load(t *testing.T, file string) (map[string]any, string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc, string(b)
}

// released is what .goreleaser.yml publishes for linux/amd64: the archive's
// name (with the version as the examples spell it), the checksum file, and
// the checksum file's cosign signature.
func released(t *testing.T) (archive, checksums, signature string) {
	t.Helper()
	var g struct {
		ProjectName string `yaml:"project_name"`
		Archives    []struct {
			NameTemplate string `yaml:"name_template"`
		}
		Checksum struct {
			NameTemplate string `yaml:"name_template"`
		}
		Signs []struct {
			Cmd       string
			Args      []string
			Artifacts string
			Signature string
		}
	}
	b, err := os.ReadFile("../../.goreleaser.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Archives) != 1 || len(g.Signs) != 1 || g.Signs[0].Cmd != "cosign" || g.Signs[0].Artifacts != "checksum" ||
		!strings.Contains(strings.Join(g.Signs[0].Args, " "), "sign-blob --key=") {
		t.Fatalf(".goreleaser.yml no longer publishes one archive and a cosign key signature of the checksums: %+v", g)
	}
	archive = strings.NewReplacer("{{ .ProjectName }}", g.ProjectName, "{{ .Version }}", "${BAKERY_VERSION}",
		"{{ .Os }}", "linux", "{{ .Arch }}", "amd64").Replace(g.Archives[0].NameTemplate) + ".tar.gz"
	signature = g.Signs[0].Signature
	if signature == "" {
		signature = "${artifact}.sig" // goreleaser's default
	}
	return archive, g.Checksum.NameTemplate, strings.ReplaceAll(signature, "${artifact}", g.Checksum.NameTemplate)
}

// TestInstallTheSignedRelease: both pipelines install the archive goreleaser
// releases, after cosign verifies the checksums' signature with a committed
// public key and the archive's checksum matches; none builds bakery.
func TestInstallTheSignedRelease(t *testing.T) {
	archive, checksums, signature := released(t)
	for _, file := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		_, text := load(t, file)
		for _, want := range []string{
			`archive="` + archive + `"`,
			"/releases/download/v$BAKERY_VERSION",
			`-O "$base/$archive" -O "$base/` + checksums + `" -O "$base/` + signature + `"`,
			"cosign verify-blob --key ",
			"bakery-release.pub",
			"--signature " + signature + " " + checksums,
			"sha256sum --check --strict",
			`tar -xzf "$archive"`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
		if strings.Contains(text, "go install") || strings.Contains(text, "@latest") {
			t.Errorf("%s still builds bakery from source", file)
		}
		verify := strings.Index(text, "cosign verify-blob")
		if check, untar := strings.Index(text, "sha256sum --check"), strings.Index(text, `tar -xzf "$archive"`); verify > check || check > untar {
			t.Errorf("%s unpacks before verifying", file)
		}
	}
}

// TestStartOrNameABuildkitd: each pipeline runs the rootless BuildKit image
// on a TCP address bakery is given, or a BAKERY_BUILDER_ADDRESS set in CI.
func TestStartOrNameABuildkitd(t *testing.T) {
	for _, file := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		_, text := load(t, file)
		for _, want := range []string{"moby/buildkit:v0.33.1-rootless", "--addr", "tcp://0.0.0.0:1234", "--oci-worker-no-process-sandbox", "BAKERY_BUILDER_ADDRESS"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
	}
	doc, _ := load(t, "github-actions.yml")
	job := doc["jobs"].(map[string]any)["bake-and-promote"].(map[string]any)
	if job["env"].(map[string]any)["BAKERY_BUILDER_ADDRESS"] != "${{ vars.BAKERY_BUILDER_ADDRESS }}" {
		t.Errorf("the GitHub job does not take a remote buildkitd from vars: %v", job["env"])
	}
	doc, _ = load(t, "gitlab-ci.yml")
	bake := doc["bake-and-promote"].(map[string]any)
	if bake["variables"].(map[string]any)["BAKERY_BUILDER_ADDRESS"] != "tcp://buildkitd:1234" {
		t.Errorf("the GitLab job does not point bakery at its buildkitd service: %v", bake["variables"])
	}
}

// TestGitHubProdWaitsForApproval: prod is its own job in the "prod"
// environment (required reviewers, documented), after the bake, promoting
// the bake's build.json into prod.
func TestGitHubProdWaitsForApproval(t *testing.T) {
	doc, text := load(t, "github-actions.yml")
	prod, ok := doc["jobs"].(map[string]any)["promote-prod"].(map[string]any)
	if !ok || prod["environment"] != "prod" || prod["needs"] != "bake-and-promote" {
		t.Fatalf("promote-prod: %v", prod)
	}
	if !strings.Contains(text, "Required reviewers") {
		t.Error("the workflow does not say to add required reviewers to prod")
	}
	var runs []string
	for _, s := range prod["steps"].([]any) {
		if run, ok := s.(map[string]any)["run"].(string); ok && strings.HasPrefix(run, "bakery ") {
			runs = append(runs, run)
		}
	}
	if len(runs) != 1 || !strings.HasPrefix(runs[0], "bakery promote --metadata-file build.json --to prod") {
		t.Errorf("promote-prod runs %q", runs)
	}
}
