package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/schemacheck"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// The advisories of the vulnerability tests, against populate's images: A
// has hello 2.10-3 and openssl deb12u1, B has hello 2.10-3, openssl deb12u2
// and curl.
var advisories = []vulntest.Advisory{
	{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "openssl", Fixed: "3.0.11-1~deb12u2", Severity: "High"}, // A only: B fixes it
	{ID: "CVE-2099-0002", Namespace: "debian:12", Package: "curl", Severity: "Critical"},                           // B only, no fix
	{ID: "CVE-2099-0003", Namespace: "debian:12", Package: "hello", Fixed: "2.10-4", Severity: "Medium"},           // both, waived
	{ID: "CVE-2099-0004", Namespace: "debian:12", Package: "openssl", Fixed: "3.0.11-1~deb12u9", Severity: "Low"},  // both
}

// scan scans the digest at ref, verified, with db and records the signed
// scans on it, as bakery scan does.
func (f *fixture) scan(t *testing.T, db *vuln.Database, ref name.Digest, env string) {
	t.Helper()
	rep, err := attest.Trusting(f.keys).Verify(f.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	scans, err := db.ScanReport(f.ctx, rep, "base", env)
	if err != nil {
		t.Fatal(err)
	}
	if err := vuln.Record(f.ctx, f.trusted, f.keys, ref, scans); err != nil {
		t.Fatal(err)
	}
}

// vulnFixture populates the registries and scans A in staging and prod and
// B in staging, so that dev's previous digest (A in dev) is unscanned; it
// waives CVE-2099-0003 for base until tomorrow, and CVE-2099-0001 until
// yesterday (expired: it counts again, with a note).
func vulnFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.populate(t)
	file, err := vulntest.Write(t.TempDir(), time.Now().Add(-time.Hour), advisories...)
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f.scan(t, db, f.repo(t, "staging", "base").Digest(f.imageA.DigestStr()), "staging")
	f.scan(t, db, f.repo(t, "prod", "base").Digest(f.imageA.DigestStr()), "prod")
	f.scan(t, db, f.repo(t, "staging", "base").Digest(f.imageB.DigestStr()), "staging")
	day := func(n int) string { return time.Now().UTC().AddDate(0, 0, n).Format(time.DateOnly) }
	f.cfg.Vulnerabilities.Waivers = []config.Waiver{
		{ID: "CVE-2099-0003", Target: "base", Until: day(1), Reason: "not reachable <b>", ApprovedBy: "sec"},
		{ID: "CVE-2099-0001", Target: "base", Until: day(-1), Reason: "old", ApprovedBy: "sec"},
	}
	return f
}

// rowsOf renders findings as "ID severity package version fixed state
// platform | suppression" (the platform of a scan of a single image is "").
func rowsOf(rows []FindingRow) []string {
	var out []string
	for _, r := range rows {
		s := "-"
		if r.Suppressed != nil {
			s = r.Suppressed.String()
		} else if r.Note != "" {
			s = r.Note
		}
		out = append(out, fmt.Sprintf("%s %s %s %s [%s] %s %s | %s", r.ID, r.Severity, r.Package, r.Version, strings.Join(r.Fixed, ","), r.Fix(), r.Platform, s))
	}
	return out
}

func changesOf(cs []VulnChange) []string {
	var out []string
	for _, c := range cs {
		s := ""
		if c.Suppressed != nil {
			s = " suppressed"
		}
		out = append(out, fmt.Sprintf("%s %s %s%s", c.ID, c.Severity, c.Package, s))
	}
	return out
}

// TestReportVulnerabilities: each digest's page and report.json list every
// finding of the scans that count, worst first, suppressed ones marked with
// the waiver's wording and an expired waiver's note; the overview draws a
// chart per environment of the counts that count; each environment's delta
// against the digest it ran before names the vulnerabilities added and
// fixed, and says "unscanned" rather than none where the previous digest
// has no scan.
func TestReportVulnerabilities(t *testing.T) {
	f := vulnFixture(t)
	r, err := Gather(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Write(t.TempDir(), r, "test")
	if err != nil {
		t.Fatal(err)
	}
	tomorrow, yesterday := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	waived := "waived until " + tomorrow + " by sec (not reachable <b>)"
	expired := "waiver expired " + yesterday + " (approved by sec)"

	a, b := digestOf(t, r, "base", f.imageA.DigestStr()), digestOf(t, r, "base", f.imageB.DigestStr())
	t.Run("the findings", func(t *testing.T) {
		want := []string{
			"CVE-2099-0001 high openssl 3.0.11-1~deb12u1 [3.0.11-1~deb12u2] fixed  | " + expired,
			"CVE-2099-0003 medium hello 2.10-3 [2.10-4] fixed  | " + waived,
			"CVE-2099-0004 low openssl 3.0.11-1~deb12u1 [3.0.11-1~deb12u9] fixed  | -",
		}
		if got := rowsOf(a.Vulnerabilities.Findings()); !slices.Equal(got, want) {
			t.Errorf("A's findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if a.Vulnerabilities.Summary != "1 high, 1 low (1 suppressed)" || fmt.Sprint(a.Vulnerabilities.Counts) != "map[high:1 low:1]" {
			t.Errorf("A: %q %v", a.Vulnerabilities.Summary, a.Vulnerabilities.Counts)
		}
		want = []string{
			"CVE-2099-0002 critical curl 7.88.1-10 [] not-fixed  | -",
			"CVE-2099-0003 medium hello 2.10-3 [2.10-4] fixed  | " + waived,
			"CVE-2099-0004 low openssl 3.0.11-1~deb12u2 [3.0.11-1~deb12u9] fixed  | -",
		}
		if got := rowsOf(b.Vulnerabilities.Findings()); !slices.Equal(got, want) {
			t.Errorf("B's findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The machine image has no scan: unscanned, not clean.
		rec := digestOf(t, r, "ami", f.record.DigestStr())
		if rec.Vulnerabilities == nil || rec.Vulnerabilities.Summary != "unscanned" || len(rec.Vulnerabilities.Scans) != 0 {
			t.Errorf("the unscanned record: %+v", rec.Vulnerabilities)
		}
	})

	t.Run("the charts' counts", func(t *testing.T) {
		charts := map[string][]string{}
		for _, ch := range severityCharts(r) {
			for _, row := range ch.Rows {
				s := row.Target + ":"
				for _, seg := range row.Segments {
					s += fmt.Sprintf(" %s=%d", seg.Severity, seg.Count)
				}
				charts[ch.Environment] = append(charts[ch.Environment], s+" ("+row.Summary+")")
			}
		}
		want := map[string][]string{
			"dev":     {"ami: (unscanned)", "base: critical=1 low=1 (1 critical, 1 low (1 suppressed))", "rogue: (unscanned)"},
			"staging": {"base: critical=1 low=1 (1 critical, 1 low (1 suppressed))"},
			"prod":    {"base: high=1 low=1 (1 high, 1 low (1 suppressed))"},
		}
		if fmt.Sprint(charts) != fmt.Sprint(want) {
			t.Errorf("charts:\n%v\nwant:\n%v", charts, want)
		}
		index := readFile(t, w.Index)
		svg := regexp.MustCompile(`(?s)<svg [^>]*aria-label="vulnerabilities in prod"[^>]*>.*?</svg>`).FindString(index)
		for _, want := range []string{`data-severity="high" data-count="1"`, `data-severity="low" data-count="1"`, `data-summary="1 high, 1 low (1 suppressed)"`} {
			if !strings.Contains(svg, want) {
				t.Errorf("prod's chart lacks %s:\n%s", want, svg)
			}
		}
		if strings.Contains(svg, `data-severity="critical"`) || strings.Contains(svg, `data-severity="medium"`) {
			t.Errorf("prod's chart counts what prod does not run, or a suppressed finding:\n%s", svg)
		}
		if !strings.Contains(index, `<span class="badge b-bad vulns" title="known vulnerabilities that count">vulns: 1 critical, 1 low (1 suppressed)</span>`) ||
			!strings.Contains(index, `<td class="vulns"><span class="badge b-warn">unscanned</span></td>`) {
			t.Error("the overview's cells and digests lack the vulnerability summaries")
		}
	})

	t.Run("the delta", func(t *testing.T) {
		deltas := map[string]*VulnDelta{}
		for _, d := range b.Deltas {
			deltas[d.Environment] = d.Vulnerabilities
		}
		st := deltas["staging"]
		if st == nil || !st.Scanned || st.Against != f.imageA.DigestStr() ||
			!slices.Equal(changesOf(st.Added), []string{"CVE-2099-0002 critical curl"}) ||
			!slices.Equal(changesOf(st.Fixed), []string{"CVE-2099-0001 high openssl"}) || st.Before != a.Vulnerabilities.Summary {
			t.Errorf("B's delta in staging: %+v", st)
		}
		if dev := deltas["dev"]; dev == nil || dev.Scanned || dev.Before != "unscanned" || len(dev.Added)+len(dev.Fixed) != 0 {
			t.Errorf("B's delta in dev (A unscanned there): %+v", dev)
		}
		page := readFile(t, filepath.Join(w.Dir, b.Page))
		card := regexp.MustCompile(`(?s)<section class="card vuln-delta" data-env="staging">.*?</section>`).FindString(page)
		for _, want := range []string{`1 added · 1 fixed`, `<tr data-change="added" data-id="CVE-2099-0002" data-package="curl"><td>added</td>`,
			`<tr data-change="fixed" data-id="CVE-2099-0001" data-package="openssl"><td>fixed</td>`} {
			if !strings.Contains(card, want) {
				t.Errorf("B's staging delta lacks %s:\n%s", want, card)
			}
		}
		card = regexp.MustCompile(`(?s)<section class="card vuln-delta" data-env="dev">.*?</section>`).FindString(page)
		if !strings.Contains(card, "Not compared: the previous digest is unscanned") {
			t.Errorf("B's dev delta does not say the previous digest is unscanned:\n%s", card)
		}
	})

	t.Run("the findings table", func(t *testing.T) {
		page := readFile(t, filepath.Join(w.Dir, a.Page))
		rows := regexp.MustCompile(`(?s)<tr data-id="[^"]*" data-package.*?</tr>`).FindAllString(
			regexp.MustCompile(`(?s)<table class="sortable" id="vulns">.*?</table>`).FindString(page), -1)
		if len(rows) != 3 {
			t.Fatalf("A's findings table has %d rows, want 3", len(rows))
		}
		for i, want := range [][]string{
			{`data-severity="high" data-fix="fixed" data-suppressed="false" class="bad"`, `<td class="mono">CVE-2099-0001</td>`, `<td data-sort="4">`,
				"<td>linux/amd64</td>", `<span class="badge b-warn">counts</span> ` + expired},
			{`data-severity="medium" data-fix="fixed" data-suppressed="true" class="suppressed"`, `<span class="badge b-kind">suppressed</span> waived until ` + tomorrow + ` by sec (not reachable &lt;b&gt;)`},
			{`data-severity="low" data-fix="fixed" data-suppressed="false">`, `<td class="mono">3.0.11-1~deb12u9</td><td>fixed</td>`},
		} {
			for _, w := range want {
				if !strings.Contains(rows[i], w) {
					t.Errorf("A's finding row %d lacks %s:\n%s", i, w, rows[i])
				}
			}
		}
		for _, want := range []string{`<div class="filterbar facets" data-table="vulns" data-count="vulns-count" data-noun="findings">`,
			`<select name="severity" id="vulns-severity"`, `<option value="not-fixed">not fixed</option>`, `<span class="muted" id="vulns-count">3 of 3 findings</span>`,
			`<table id="scans">`} {
			if !strings.Contains(page, want) {
				t.Errorf("A's page lacks %s", want)
			}
		}
		rec := readFile(t, filepath.Join(w.Dir, digestOf(t, r, "ami", f.record.DigestStr()).Page))
		if !strings.Contains(rec, `id="unscanned"`) || strings.Contains(rec, `id="vulns"`) {
			t.Error("the record's page does not say it is unscanned")
		}
		if strings.Count(page, "<script>") != 1 {
			t.Error("A's page has more than the one inline script")
		}
	})

	t.Run("report.json", func(t *testing.T) {
		var back struct {
			Cells []struct {
				Target, Environment string
				Vulnerabilities     *VulnCounts
			}
			Digests []struct {
				Digest          string
				Vulnerabilities struct {
					Summary string
					Scans   []struct {
						Platform string
						Findings []struct {
							ID         string
							Suppressed *struct{ By, Until string }
							Note       string
						}
					}
				}
				Deltas []struct {
					Environment     string
					Vulnerabilities *struct {
						Scanned      bool
						Added, Fixed []struct{ ID string }
					}
				}
			}
		}
		raw := readFile(t, w.JSON)
		if err := json.Unmarshal([]byte(raw), &back); err != nil {
			t.Fatal(err)
		}
		for _, c := range back.Cells {
			if c.Target == "base" && c.Environment == "prod" && (c.Vulnerabilities == nil || c.Vulnerabilities.Counts["high"] != 1) {
				t.Errorf("base in prod: %+v", c.Vulnerabilities)
			}
		}
		for _, d := range back.Digests {
			if d.Digest != f.imageB.DigestStr() {
				continue
			}
			fs := d.Vulnerabilities.Scans[0].Findings
			if len(fs) != 3 || !slices.ContainsFunc(fs, func(x struct {
				ID         string
				Suppressed *struct{ By, Until string }
				Note       string
			}) bool {
				return x.ID == "CVE-2099-0003" && x.Suppressed != nil && x.Suppressed.By == "waiver"
			}) {
				t.Errorf("B's findings in report.json: %+v", fs)
			}
			for _, dl := range d.Deltas {
				if dl.Environment == "staging" && (dl.Vulnerabilities == nil || !dl.Vulnerabilities.Scanned || len(dl.Vulnerabilities.Added) != 1 || dl.Vulnerabilities.Fixed[0].ID != "CVE-2099-0001") {
					t.Errorf("B's staging delta in report.json: %+v", dl.Vulnerabilities)
				}
			}
		}
		// What this adds to report.json is camelCase (the SBOM delta keeps
		// the policy input's snake_case, as before).
		var doc struct {
			Cells   []map[string]any
			Digests []struct {
				Vulnerabilities any
				Deltas          []struct{ Vulnerabilities any }
			}
		}
		_ = json.Unmarshal([]byte(raw), &doc)
		var parts []any
		for _, c := range doc.Cells {
			parts = append(parts, c["vulnerabilities"])
		}
		for _, d := range doc.Digests {
			parts = append(parts, d.Vulnerabilities)
			for _, dl := range d.Deltas {
				parts = append(parts, dl.Vulnerabilities)
			}
		}
		if bad := schemacheck.NotCamel(parts); len(bad) > 0 {
			t.Errorf("report.json's vulnerability keys that are not camelCase: %v", bad)
		}
	})
}

// TestCompareVulns: added and fixed by id and package over every platform,
// a finding on two platforms once with both; nothing compared when either
// side is unscanned.
func TestCompareVulns(t *testing.T) {
	f := func(id, pkg, sev string) vuln.Judged {
		return vuln.Judged{Finding: vuln.Finding{ID: id, Package: pkg, Version: "1", Severity: sev}}
	}
	before := []vuln.Evidence{
		{Platform: "linux/amd64", Findings: []vuln.Judged{f("CVE-1", "a", "low"), f("CVE-2", "b", "high")}},
		{Platform: "linux/arm64", Findings: []vuln.Judged{f("CVE-2", "b", "high")}},
	}
	sup := f("CVE-3", "a", "critical")
	sup.Suppressed = &vuln.Suppression{By: "waiver", Until: "2099-01-01", ApprovedBy: "sec", Reason: "r"}
	after := []vuln.Evidence{
		{Platform: "linux/amd64", Findings: []vuln.Judged{f("cve-1", "a", "low"), sup}},
		{Platform: "linux/arm64", Findings: []vuln.Judged{f("CVE-2", "c", "medium"), sup}},
	}
	d := CompareVulns("sha256:x", before, after)
	if !d.Scanned || !slices.Equal(changesOf(d.Added), []string{"CVE-3 critical a suppressed", "CVE-2 medium c"}) ||
		!slices.Equal(changesOf(d.Fixed), []string{"CVE-2 high b"}) || !slices.Equal(d.Fixed[0].Platforms, []string{"linux/amd64", "linux/arm64"}) ||
		!slices.Equal(d.Added[0].Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("delta %+v", d)
	}
	for _, tc := range [][2][]vuln.Evidence{{nil, after}, {before, nil}, {nil, nil}} {
		d := CompareVulns("sha256:x", tc[0], tc[1])
		if d.Scanned || len(d.Added)+len(d.Fixed) != 0 || (len(tc[0]) == 0) != (d.Before == "unscanned") || (len(tc[1]) == 0) != (d.After == "unscanned") {
			t.Errorf("with an unscanned side: %+v", d)
		}
	}
}
