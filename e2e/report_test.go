//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// chromium is Debian's headless browser, which hack/setup.sh installs.
const chromium = "/usr/bin/chromium"

// TestReportInABrowser runs build → staging → prod, a second build through
// to prod and a rollback on the real registries, writes `bakery report`, and
// reads it in Debian's headless chromium: the matrix says what each
// environment runs, the SBOM filter keeps exactly the rows that match, a
// link leads to the digest's page, and nothing is written to the console or
// requested from anywhere but the report's own files. Screenshots are kept
// in .bakery/report-screens/.
func TestReportInABrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): run `make up`, which installs Debian's chromium", chromium, err)
	}
	ns := runID + "/report"
	cfg := promoteProject(t, ns, "")
	d1 := buildDigest(t, cfg)
	promoteTo(t, cfg, d1, "staging", "prod")
	d2 := buildDigest(t, cfg)
	promoteTo(t, cfg, d2, "staging", "prod")
	if rb := bakery(t, nil, "rollback", "golden", "--env", "prod", "--config", cfg); rb.code != 0 {
		t.Fatalf("rollback: exit %d", rb.code)
	}

	out := filepath.Join(t.TempDir(), "report")
	r := bakery(t, nil, "report", "--config", cfg, "--out", out, "-o", "json")
	var sum struct {
		Index, JSON string
		Pages       []string
		Digests     int
		Unverified  []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 0 {
		t.Fatalf("report: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if sum.Digests != 2 || len(sum.Pages) != 2 || len(sum.Unverified) != 0 || sum.Index != filepath.Join(out, "index.html") {
		t.Fatalf("report summary %+v: want 2 digests (d2 in dev and staging, d1 in prod), all verified", sum)
	}
	b := newBrowser(t)
	checkReportPages(t, b, out, d1, d2)
	b.clean(t)
	b.selfCheck(t)
}

// promoteTo promotes digest into each environment in turn.
func promoteTo(t *testing.T, cfg, digest string, envs ...string) {
	t.Helper()
	for _, env := range envs {
		if out, r := promoteJSON(t, cfg, "--to", env); r.code != 0 || out["digest"] != digest {
			t.Fatalf("promote %s to %s: exit %d, %v", digest, env, r.code, out)
		}
	}
}

// checkReportPages reads the overview and d1's page (prod runs d1 again
// after the rollback) in the browser.
func checkReportPages(t *testing.T, b *browser, out, d1, d2 string) {
	b.do(t, chromedp.Navigate("file://"+filepath.Join(out, "index.html")), chromedp.WaitVisible(chromedp.CSS("#matrix")))
	cell := func(env string) string {
		return b.text(t, fmt.Sprintf(`#matrix tr[data-target="golden"] td[data-env=%q]`, env))
	}
	for env, want := range map[string][]string{
		"dev":     {short12(d2), "container", "verified", "receipt: build", "signer"},
		"staging": {short12(d2), "verified", "receipt: promote"},
		"prod":    {short12(d1), "verified", "receipt: rollback", "age"},
	} {
		got := cell(env)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("the %s cell does not show %q:\n%s", env, w, got)
			}
		}
		if strings.Contains(got, "not verified") || strings.Contains(got, "drift") || strings.Contains(got, "revoked") {
			t.Errorf("the %s cell: %s", env, got)
		}
	}
	// golden configures no suite: no tests badge, "-" in the digests' tests
	// column (TestTestedDigestsOnly reads a target's results in the report).
	if n := evalJS[int](t, b, `document.querySelectorAll("#matrix .tests").length`); n != 0 {
		t.Errorf("the matrix shows %d tests badges for a target with no suite", n)
	}
	if got := evalJS[string](t, b, `[...document.querySelectorAll("#digests td.tests")].map(td => td.textContent).join(",")`); got != "-,-" {
		t.Errorf("the digests' tests column: %q, want - for each of the 2 digests", got)
	}
	if n := evalJS[int](t, b, `document.querySelectorAll("svg[aria-label='promotions of golden'] circle").length`); n != 7 {
		t.Errorf("the promotions timeline has %d points, want 7 (2 builds, 2 promotions into staging, 2 into prod, a rollback)", n)
	}
	b.screenshot(t, "index")

	b.do(t, chromedp.Click(chromedp.CSS(`#matrix td[data-env="prod"] a.digest`)), chromedp.WaitVisible(chromedp.CSS("#sbom-0")))
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "file://") || !strings.Contains(loc, short16(d1)) {
		t.Errorf("the prod cell's link went to %s, want d1's page", loc)
	}
	if h := b.text(t, "header.top h1"); !strings.Contains(h, "golden") || !strings.Contains(h, short12(d1)) {
		t.Errorf("d1's page is titled %q", h)
	}
	chain := b.text(t, "#receipts")
	for _, w := range []string{"build", "promote", "rollback", "promoted_through", "license_denylist", "PASSED"} {
		if !strings.Contains(chain, w) {
			t.Errorf("the receipt chain lacks %q:\n%s", w, chain)
		}
	}
	checkSBOMFilter(t, b, out, d1)
	b.screenshot(t, "digest-filtered")
}

// checkSBOMFilter types into the SBOM filter and checks that the rows the
// page shows are exactly the packages of report.json that match.
func checkSBOMFilter(t *testing.T, b *browser, out, d1 string) {
	rows := `document.querySelectorAll("#sbom-0 tbody tr:not([hidden])").length`
	all := evalJS[int](t, b, rows)
	want := reportPackages(t, out, d1)
	if all != len(want) || all < 20 {
		t.Fatalf("the SBOM table shows %d packages, report.json lists %d", all, len(want))
	}
	const q = "libc"
	b.do(t, chromedp.SendKeys(chromedp.CSS("#sbom-0-filter"), q))
	var match []string
	for _, row := range want {
		if strings.Contains(strings.ToLower(row), q) {
			match = append(match, row)
		}
	}
	shown := evalJS[int](t, b, rows)
	if shown != len(match) || shown == 0 || shown == all {
		t.Errorf("filtering on %q shows %d rows, want %d of %d", q, shown, len(match), all)
	}
	var texts []string
	if err := json.Unmarshal([]byte(evalJS[string](t, b, `JSON.stringify(Array.from(document.querySelectorAll("#sbom-0 tbody tr:not([hidden])"), r => r.textContent))`)), &texts); err != nil {
		t.Fatal(err)
	}
	slices.Sort(texts)
	slices.Sort(match)
	if !slices.Equal(texts, match) {
		t.Errorf("the rows shown:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(match, "\n"))
	}
	if c := b.text(t, "#sbom-0-count"); c != fmt.Sprintf("%d of %d packages", len(match), all) {
		t.Errorf("the counter says %q", c)
	}
}

// TestReportKeepsEveryReceipt: an operator rolls prod back from d2 to d1
// during an incident, then writes the report for the review: d2's page
// (d2 still runs in dev and staging) keeps its prod receipt, in report.json
// and the HTML, marked as one of an environment it no longer runs in; its
// dev and staging receipts say it runs there now.
func TestReportKeepsEveryReceipt(t *testing.T) {
	ns := runID + "-receipts"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod", "app")
	var d2 string
	for i := range 2 {
		d2 = rebuild(t, cfg, "app", fmt.Sprintf("receipts-%d", i))
		for _, env := range []string{"staging", "prod"} {
			if r := bakery(t, nil, "promote", "app", "--to", env, "--config", cfg); r.code != 0 {
				t.Fatalf("promote %d to %s: exit %d", i, env, r.code)
			}
		}
	}
	if r := bakery(t, nil, "rollback", "app", "--env", "prod", "--reason", "INC-7", "--config", cfg); r.code != 0 {
		t.Fatalf("rollback: exit %d", r.code)
	}
	out := filepath.Join(t.TempDir(), "report")
	if r := bakery(t, nil, "report", "--config", cfg, "--out", out); r.code != 0 {
		t.Fatalf("report: exit %d", r.code)
	}
	var rep struct {
		Digests []struct {
			Digest, Page string
			Receipts     []struct {
				Environment, Action string
				Current             bool
			}
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Digests {
		if d.Digest != d2 {
			continue
		}
		var chain []string
		for _, rc := range d.Receipts {
			chain = append(chain, fmt.Sprintf("%s %s current=%v", rc.Environment, rc.Action, rc.Current))
		}
		want := []string{"dev build current=true", "staging promote current=true", "prod promote current=false"}
		if !slices.Equal(chain, want) {
			t.Errorf("d2's receipts after prod was rolled back away from it:\n%s\nwant:\n%s", strings.Join(chain, "\n"), strings.Join(want, "\n"))
		}
		page := readFile(t, filepath.Join(out, d.Page))
		if !strings.Contains(page, `<tr data-env="prod" data-current="false"><td>prod</td><td><span class="muted">no longer</span>`) {
			t.Error("d2's page does not show its prod receipt as one of an environment it no longer runs in")
		}
		return
	}
	t.Fatalf("report.json has no page for d2 %s", d2)
}

// reportPackages is the first platform's packages of digest in report.json,
// each as its table row's text.
func reportPackages(t *testing.T, out, digest string) []string {
	t.Helper()
	var rep struct {
		Digests []struct {
			Digest    string
			Platforms []struct {
				Packages []struct {
					Name, Version, Type, PURL string
					Licenses                  []string
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Digests {
		if d.Digest != digest || len(d.Platforms) == 0 {
			continue
		}
		var rows []string
		for _, p := range d.Platforms[0].Packages {
			rows = append(rows, p.Name+p.Version+p.Type+strings.Join(p.Licenses, ", ")+p.PURL)
		}
		return rows
	}
	t.Fatalf("report.json has no page for %s", digest)
	return nil
}

func short12(d string) string { return d[:len("sha256:")+12] }

func short16(d string) string { return strings.TrimPrefix(d, "sha256:")[:16] }

// browser is one headless chromium with a tab, and what the tab did that
// the report must never do: write errors to the console, throw, or request
// anything but a file: or data: URL.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	bad []string
	// files counts the file: requests seen: the proof that the network
	// events reach watch at all.
	files int
}

// newBrowser starts chromium as this machine runs it: headless, no sandbox
// (root), no GPU, QUIC, first-run, background networking, component
// updates or sync, and a fresh profile.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	if err := chromedp.Listen(bctx, b.watch); err != nil {
		t.Fatal(err)
	}
	return b
}

// watch records what the page must never do; it runs in the tab's loop.
func (b *browser) watch(ev any) {
	var bad string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			bad = fmt.Sprintf("console.%s (%d arguments)", ev.Type, len(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		bad = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			bad += " " + ev.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			bad = fmt.Sprintf("browser log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		u := ev.Request.URL
		if !strings.HasPrefix(u, "file:") && !strings.HasPrefix(u, "data:") {
			bad = "request left the file: " + u
		}
		b.mu.Lock()
		b.files += boolInt(strings.HasPrefix(u, "file:"))
		b.mu.Unlock()
	}
	if bad != "" {
		b.mu.Lock()
		b.bad = append(b.bad, bad)
		b.mu.Unlock()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selfCheck proves the watch sees what it must catch: the pages' own file:
// requests, and an error written to the console (which it then forgets).
func (b *browser) selfCheck(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	before, files := len(b.bad), b.files
	b.mu.Unlock()
	if files < 2 {
		t.Errorf("the browser saw %d file: requests; the network watch sees nothing", files)
	}
	// The console event arrives before the answer to the evaluation, and
	// watch runs in the order the browser sends.
	evalJS[int](t, b, `console.error("bakery-watch-probe") || 0`)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bad) != before+1 || !strings.HasPrefix(b.bad[before], "console.error") {
		t.Errorf("the console watch did not see a console.error: %v", b.bad[before:])
		return
	}
	b.bad = b.bad[:before]
}

// clean fails the test for everything watch recorded.
func (b *browser) clean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.bad {
		t.Errorf("the report page: %s", m)
	}
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("%s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// evalJS evaluates js in the tab and decodes its result.
func evalJS[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// screenshot keeps a full-page PNG of the tab in .bakery/report-screens/.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".bakery", "report-screens")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// TestReportVulnerabilitiesInABrowser: d1 is built with a database that
// knows CVE-2099-3001 (libc6, waived for golden) and CVE-2099-3002
// (base-files), d2 with a newer one that knows CVE-2099-3001 and
// CVE-2099-3003 (base-files); both go to staging, where bakery build's
// scans are the ones that count. In the browser, d2's page lists its
// findings as report.json does, the waived one marked with its waiver; the
// severity and fix filters keep exactly the rows that match; sorting by
// severity puts the lowest first; staging's delta names CVE-2099-3003 added
// and CVE-2099-3002 fixed; the overview's chart for staging counts the one
// low finding that counts and not the waived critical one.
func TestReportVulnerabilitiesInABrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): run `make up`, which installs Debian's chromium", chromium, err)
	}
	ns := runID + "/report-vulns"
	dir := t.TempDir()
	waiver := "  waivers:\n    - {id: CVE-2099-3001, target: golden, until: \"2099-12-31\", reason: no exploit path, approved_by: sec}\n"
	db1 := vulnDB(t, filepath.Join(dir, "db1"), time.Now().Add(-2*time.Hour),
		vulntest.Advisory{ID: "CVE-2099-3001", Namespace: "debian:12", Package: "libc6", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-3002", Namespace: "debian:12", Package: "base-files", Fixed: "99:1", Severity: "Medium"})
	db2 := vulnDB(t, filepath.Join(dir, "db2"), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-3001", Namespace: "debian:12", Package: "libc6", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-3003", Namespace: "debian:12", Package: "base-files", Severity: "Low"})
	cfg := promoteProject(t, ns, "vulnerabilities:\n  db: "+db1+"\n"+waiver)
	d1 := buildDigest(t, cfg)
	promoteTo(t, cfg, d1, "staging")
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": strings.Replace(readFile(t, cfg), db1, db2, 1)})
	d2 := buildDigest(t, cfg)
	promoteTo(t, cfg, d2, "staging")

	out := filepath.Join(t.TempDir(), "report")
	r := bakery(t, nil, "report", "golden", "--config", cfg, "--out", out, "-o", "json")
	if r.code != 0 {
		t.Fatalf("report: exit %d\n%s", r.code, r.stdout)
	}
	var rep struct {
		Digests []struct {
			Digest, Page    string
			Vulnerabilities struct {
				Summary string
				Scans   []struct {
					Findings []struct {
						ID, Severity, FixState string
						Suppressed             *struct{ By string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Digests, func(d struct {
		Digest, Page    string
		Vulnerabilities struct {
			Summary string
			Scans   []struct {
				Findings []struct {
					ID, Severity, FixState string
					Suppressed             *struct{ By string }
				}
			}
		}
	}) bool {
		return d.Digest == d2
	})
	if i < 0 {
		t.Fatalf("report.json has no page for d2 %s", d2)
	}
	var all, low []string
	for _, s := range rep.Digests[i].Vulnerabilities.Scans {
		for _, f := range s.Findings {
			all = append(all, f.ID)
			if f.Severity == "low" {
				low = append(low, f.ID)
			}
		}
	}
	if len(all) == 0 || !slices.Contains(all, "CVE-2099-3001") || !slices.Contains(low, "CVE-2099-3003") || slices.Contains(all, "CVE-2099-3002") {
		t.Fatalf("d2's findings in report.json: %v (summary %q)", all, rep.Digests[i].Vulnerabilities.Summary)
	}

	b := newBrowser(t)
	b.do(t, chromedp.Navigate("file://"+filepath.Join(out, "index.html")), chromedp.WaitVisible(chromedp.CSS("#matrix")))
	chart := evalJS[string](t, b, `[...document.querySelectorAll("svg[aria-label='vulnerabilities in staging'] rect")].map(r => r.dataset.severity + "=" + r.dataset.count).join(",")`)
	if chart != "low=1" {
		t.Errorf("staging's severity chart: %q, want low=1 (the critical finding is waived)", chart)
	}
	if cell := b.text(t, `#matrix tr[data-target="golden"] td[data-env="staging"]`); !strings.Contains(cell, "vulns: 1 low (") {
		t.Errorf("the staging cell does not show d2's vulnerabilities:\n%s", cell)
	}
	b.screenshot(t, "index-vulns")
	b.do(t, chromedp.Click(chromedp.CSS(`#matrix td[data-env="staging"] a.digest`)), chromedp.WaitVisible(chromedp.CSS("#vulns")))

	rows := func() []string {
		var ids []string
		if err := json.Unmarshal([]byte(evalJS[string](t, b, `JSON.stringify(Array.from(document.querySelectorAll("#vulns tbody tr:not([hidden])"), r => r.dataset.id))`)), &ids); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	choose := func(id, value string) {
		evalJS[string](t, b, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value })()`, id, value))
	}
	if got := rows(); len(got) != len(all) {
		t.Errorf("the findings table shows %v, report.json lists %v", got, all)
	}
	choose("vulns-severity", "low")
	if got := rows(); !slices.Equal(got, low) || b.text(t, "#vulns-count") != fmt.Sprintf("%d of %d findings", len(low), len(all)) {
		t.Errorf("filtered on low: %v (%s), want %v", got, b.text(t, "#vulns-count"), low)
	}
	choose("vulns-severity", "")
	choose("vulns-fix", "fixed")
	if got := rows(); len(got) != 0 {
		t.Errorf("filtered on fixed: %v, want none (neither advisory has a fix)", got)
	}
	choose("vulns-fix", "not-fixed")
	if got := rows(); len(got) != len(all) {
		t.Errorf("filtered on not fixed: %v, want every finding", got)
	}
	choose("vulns-fix", "")
	b.do(t, chromedp.Click(chromedp.CSS("#vulns thead th:nth-child(2)")))
	if got := rows(); len(got) == 0 || got[0] != "CVE-2099-3003" || got[len(got)-1] != "CVE-2099-3001" {
		t.Errorf("sorted by severity: %v, want the low finding first and the critical one last", got)
	}
	if s := b.text(t, `#vulns tr[data-id="CVE-2099-3001"] td.suppression`); !strings.Contains(s, "suppressed") || !strings.Contains(s, "waived until 2099-12-31 by sec (no exploit path)") {
		t.Errorf("the waived finding is shown as %q", s)
	}
	delta := b.text(t, `section.vuln-delta[data-env="staging"]`)
	for _, want := range []string{"1 added · 1 fixed", "CVE-2099-3003", "CVE-2099-3002", short12(d1)} {
		if !strings.Contains(delta, want) {
			t.Errorf("staging's vulnerability delta lacks %q:\n%s", want, delta)
		}
	}
	if n := evalJS[int](t, b, `document.querySelectorAll('section.vuln-delta[data-env="staging"] tr[data-change="added"][data-id="CVE-2099-3003"], section.vuln-delta[data-env="staging"] tr[data-change="fixed"][data-id="CVE-2099-3002"]').length`); n != 2 {
		t.Errorf("staging's delta rows: %d of the added and fixed ones", n)
	}
	b.screenshot(t, "digest-vulns")
	b.clean(t)
	b.selfCheck(t)
}
