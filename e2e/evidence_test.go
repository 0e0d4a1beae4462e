//go:build e2e

package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// evidence is one test result that counts, as every -o json shows it.
type evidence struct {
	Suite, Platform, Environment, Result, Finished, KeyID string
	Failed                                                []string
}

// find is the evidence of suite in env ("" for the build's run); ok false
// when there is none, and a test error when there is more than one.
func find(t *testing.T, what string, ev []evidence, suite, env string) (evidence, bool) {
	t.Helper()
	var out []evidence
	for _, e := range ev {
		if e.Suite == suite && e.Environment == env {
			out = append(out, e)
		}
	}
	if len(out) > 1 {
		t.Errorf("%s: %d results of %s in %q count, want the newest only: %+v", what, len(out), suite, env, out)
	}
	if len(out) == 0 {
		return evidence{}, false
	}
	return out[0], true
}

// buildShowingTests builds app of cfg as CI would (-o json, --junit, a job
// summary) and checks that each shows the suite's result per platform: the
// JSON under the target, a JUnit case and a summary row each, and the text
// count of test results apart from the attestations. It returns the digest.
func buildShowingTests(t *testing.T, cfg string, label []string) string {
	t.Helper()
	dir := t.TempDir()
	junit, summary := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.md")
	r := bakery(t, append([]string{"GITHUB_STEP_SUMMARY=" + summary}, label...), "build", "app", "--config", cfg, "--progress", "quiet", "-o", "json", "--junit", junit)
	var out struct {
		Targets []struct {
			Target, Repository, Digest string
			Platforms                  []string
			Tests                      []evidence
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil || len(out.Targets) != 1 {
		t.Fatalf("build: exit %d (%v)\n%s", r.code, err, r.stdout)
	}
	built := out.Targets[0]
	if len(built.Tests) != len(built.Platforms) || len(built.Tests) == 0 {
		t.Errorf("build -o json: tests %+v, want structure's result on each of %v", built.Tests, built.Platforms)
	}
	for _, e := range built.Tests {
		if e.Suite != "structure" || e.Result != "PASSED" || e.Environment != "" || e.KeyID == "" {
			t.Errorf("build -o json: %+v, want structure PASSED at build", e)
		}
	}
	b, _ := os.ReadFile(junit)
	var suites struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("build --junit: %v\n%s", err, b)
	}
	md, _ := os.ReadFile(summary)
	for _, p := range built.Platforms {
		name := "app test structure " + p
		found := false
		for _, c := range suites.Suites[0].Cases {
			found = found || c.Name == name && c.Failure == nil
		}
		if !found {
			t.Errorf("build --junit lacks a passing case %q:\n%s", name, b)
		}
		if !strings.Contains(string(md), "test structure "+p+": PASSED") {
			t.Errorf("the job summary lacks structure's result on %s:\n%s", p, md)
		}
	}
	// In text, the count verify prints: test results apart.
	text := bakery(t, label, "build", "app", "--config", cfg, "--progress", "quiet")
	n := len(built.Tests)
	want := fmt.Sprintf("%d test results (%d/%d passed)", n, n, n)
	if n == 1 {
		want = "1 test result (1/1 passed)"
	}
	if !strings.Contains(text.stdout, want) {
		t.Errorf("build's text lacks %q:\n%s", want, text.stdout)
	}
	return built.Repository + "@" + built.Digest
}

// statusTests is app's test evidence in env, as status -o json shows it,
// and its TESTS cell in text.
func statusTests(t *testing.T, cfg, env string) ([]evidence, string) {
	t.Helper()
	r := bakery(t, nil, "status", "app", "--env", env, "--config", cfg, "-o", "json")
	var rows []struct {
		Target, Environment string
		Tests               []evidence
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 || len(rows) != 1 {
		t.Fatalf("status -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	text := bakery(t, nil, "status", "app", "--env", env, "--config", cfg)
	lines := strings.Split(strings.TrimSpace(text.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("status text:\n%s", text.stdout)
	}
	at := strings.Index(lines[0], "TESTS")
	end := strings.Index(lines[0], "VULNS") // the column after TESTS
	if end < 0 {
		end = strings.Index(lines[0], "DRIFT")
	}
	if at < 0 || end < at || len(lines[1]) < end {
		t.Fatalf("status has no TESTS column:\n%s", text.stdout)
	}
	return rows[0].Tests, strings.TrimSpace(lines[1][at:end])
}

// checkWithdrawnEverywhere: after a FAILED smoke run in staging that is
// newer than a PASSED one, status (text and JSON) and verify show smoke
// FAILED there with the failed test, once, and no forged result.
func checkWithdrawnEverywhere(t *testing.T, cfg, ref string) {
	t.Helper()
	ev, cell := statusTests(t, cfg, "staging")
	if s, ok := find(t, "status", ev, "smoke", "staging"); !ok || s.Result != "FAILED" || strings.Join(s.Failed, ",") != "login" {
		t.Errorf("status -o json in staging: smoke %+v (%v), want the newer FAILED with login", s, ok)
	}
	if cell != "1 FAILED" {
		t.Errorf("status TESTS in staging: %q, want 1 FAILED", cell)
	}
	staging := strings.Replace(ref, "/dev/", "/staging/", 1)
	v := bakery(t, nil, "verify", staging, "--config", cfg)
	if len(regexp.MustCompile(`test +smoke in staging `).FindAllString(v.stdout, -1)) != 1 || !regexp.MustCompile(`test +smoke in staging FAILED \(failed: login\)`).MatchString(v.stdout) {
		t.Errorf("verify in staging: want smoke FAILED there once, naming login:\n%s", v.stdout)
	}
}

// checkPassedEverywhere: once smoke PASSED again in staging and the digest
// is in prod, history, inspect, the HTML report (read in the browser) and
// a bundle of it (verified offline, imported where tested is required)
// show the same evidence status shows.
func checkPassedEverywhere(t *testing.T, cfg, ref, ns string) {
	t.Helper()
	ev, cell := statusTests(t, cfg, "prod")
	if s, ok := find(t, "status", ev, "smoke", "staging"); !ok || s.Result != "PASSED" {
		t.Errorf("status -o json in prod: smoke in staging %+v, want PASSED (the newest)", s)
	}
	if !strings.HasSuffix(cell, " passed") {
		t.Errorf("status TESTS in prod: %q", cell)
	}
	h := bakery(t, nil, "history", "app", "--env", "prod", "--config", cfg, "-o", "json")
	var entries []struct {
		Action string
		Tests  []evidence
	}
	if err := json.Unmarshal([]byte(h.stdout), &entries); err != nil || len(entries) != 1 || entries[0].Action != "promote" {
		t.Fatalf("history -o json: %v\n%s", err, h.stdout)
	}
	if s, ok := find(t, "history", entries[0].Tests, "smoke", "staging"); !ok || s.Result != "PASSED" || len(entries[0].Tests) != len(ev) {
		t.Errorf("history's promote entry: tests %+v, want status's %+v", entries[0].Tests, ev)
	}
	if ht := bakery(t, nil, "history", "app", "--env", "prod", "--config", cfg); !strings.Contains(ht.stdout, "TESTS") || !strings.Contains(ht.stdout, cell) {
		t.Errorf("history text lacks TESTS %q:\n%s", cell, ht.stdout)
	}
	prod := strings.Replace(ref, "/dev/", "/prod/", 1)
	in := bakery(t, nil, "inspect", prod, "--config", cfg)
	if !strings.Contains(in.stdout, "\nTests\n") || !strings.Contains(in.stdout, cell) || !strings.Contains(in.stdout, "in staging") {
		t.Errorf("inspect lacks the Tests section (%q, smoke in staging):\n%s", cell, in.stdout)
	}
	checkReportTests(t, cfg, ref, len(ev))
	checkBundleCarriesTests(t, cfg, ns, ev)
}

// checkReportTests writes the report and reads the digest's Tests table in
// the browser: a row per result that counts, smoke's in staging PASSED;
// report.json holds the same.
func checkReportTests(t *testing.T, cfg, ref string, n int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report")
	if r := bakery(t, nil, "report", "app", "--config", cfg, "--out", out); r.code != 0 {
		t.Fatalf("report: exit %d", r.code)
	}
	var rep struct {
		Digests []struct {
			Digest, Page, TestSummary string
			Tests                     []evidence
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Digests) != 1 || len(rep.Digests[0].Tests) != n {
		t.Fatalf("report.json: %v, digests %+v, want one with %d results", err, rep.Digests, n)
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): run `make up`, which installs Debian's chromium", chromium, err)
	}
	br := newBrowser(t)
	br.do(t, chromedp.Navigate("file://"+filepath.Join(out, "index.html")), chromedp.WaitVisible(chromedp.CSS("#matrix")))
	if cell := br.text(t, `#matrix tr[data-target="app"] td[data-env="prod"] .tests`); cell != "tests: "+rep.Digests[0].TestSummary {
		t.Errorf("the prod cell's tests badge: %q, want %q", cell, "tests: "+rep.Digests[0].TestSummary)
	}
	br.do(t, chromedp.Navigate("file://"+filepath.Join(out, rep.Digests[0].Page)), chromedp.WaitVisible(chromedp.CSS("#tests")))
	if rows := evalJS[int](t, br, `document.querySelectorAll("#tests tbody tr[data-suite]").length`); rows != n {
		t.Errorf("the digest page's Tests table has %d rows, want %d", rows, n)
	}
	if row := br.text(t, `#tests tr[data-suite="smoke"][data-env="staging"]`); !strings.Contains(row, "PASSED") || !strings.Contains(row, "staging") {
		t.Errorf("smoke's row on the digest page: %q", row)
	}
	br.screenshot(t, "digest-tests")
	br.clean(t)
	br.selfCheck(t)
}

// checkBundleCarriesTests exports app from prod, verifies the bundle with no
// network (its test rows are there) and imports it at a site whose prod
// requires tested: allowed, and the site's status shows the same evidence.
func checkBundleCarriesTests(t *testing.T, cfg, ns string, want []evidence) {
	t.Helper()
	dir := filepath.Dir(cfg)
	path := filepath.Join(dir, "tested.tar")
	if r := bakery(t, nil, "export", "app", "--env", "prod", "--out", path, "--config", cfg, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("export: exit %d", r.code)
	}
	v := offline(t, "verify", "--bundle", path)
	if v.code != 0 || !regexp.MustCompile(`test +smoke in staging PASSED`).MatchString(v.stdout) || !strings.Contains(v.stdout, fmt.Sprintf("%d test results", len(want))) {
		t.Errorf("verify --bundle (no network): exit %d, want smoke PASSED in staging and %d test results:\n%s", v.code, len(want), v.stdout)
	}
	site := filepath.Join(dir, "site.yaml") // beside tests/app.yaml
	writeFiles(t, dir, map[string]string{"site.yaml": fmt.Sprintf(`version: 1
targets:
  app:
    type: container
    context: app
    tests:
      - {name: structure, file: tests/app.yaml}
      - {name: smoke, external: true}
environments:
  - name: prod
    repository: %s/%s/site
    insecure: true
    policies: [signed, tested]
`, registry2, ns)})
	importBundle(t, site, path, 0)
	r := bakery(t, nil, "status", "app", "--config", site, "-o", "json")
	var rows []struct{ Tests []evidence }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || len(rows[0].Tests) != len(want) {
		t.Fatalf("the site's status after the import: %v\n%s", err, r.stdout)
	}
	for i, e := range rows[0].Tests {
		if e.Suite != want[i].Suite || e.Environment != want[i].Environment || e.Result != want[i].Result || e.Finished != want[i].Finished {
			t.Errorf("the site's evidence %d: %+v, want %+v", i, e, want[i])
		}
	}
}
