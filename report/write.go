package report

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/vuln"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages holds the report's templates. html/template escapes every value
// for where it is written (text, attribute, URL, script), so a label or
// package name that holds markup is shown as text, never run.
var pages = template.Must(template.New("report").Funcs(template.FuncMap{
	"short": func(d string) string {
		if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
			return alg + ":" + hex[:12]
		}
		return d
	},
	"size":        humanSize,
	"join":        strings.Join,
	"count":       count,
	"testSummary": promote.TestSummary,
	"testClass":   testClass,
	"resultClass": resultClass,
	"vulnClass":   vulnClass,
	"severities":  func() []string { return severityOrder },
	"rank":        vuln.Rank,
	"highOrWorse": func(s string) bool { return vuln.Rank(s) >= vuln.Rank("high") },
	"vulnChanges": vulnChanges,
	"platforms": func(plats []string, single string) string {
		if len(plats) == 1 && plats[0] == "" {
			return single
		}
		return strings.Join(plats, ", ")
	},
	"predicate": func(pt string) string {
		if pt == receipt.PredicateVSA {
			return "receipt (VSA)"
		}
		if pt == vuln.PredicateType {
			return "vuln (scan)"
		}
		return attest.PredicateName(pt)
	},
}).ParseFS(templateFiles, "templates/*.html"))

// Written names the files Write wrote.
type Written struct {
	Dir   string   `json:"dir"`
	Index string   `json:"index"`
	JSON  string   `json:"json"`
	Pages []string `json:"pages"`
}

// Write writes r into dir (made if missing): report.json, index.html and
// a page per digest. version is bakery's, named in every page's footer.
func Write(dir string, r *Report, version string) (*Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, outErr(dir, err)
	}
	w := &Written{Dir: dir, Index: filepath.Join(dir, "index.html"), JSON: filepath.Join(dir, "report.json")}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.JSON, append(body, '\n'), 0o644); err != nil {
		return nil, outErr(dir, err)
	}
	if err := render(w.Index, "index", newIndexView(r, version)); err != nil {
		return nil, err
	}
	for i := range r.Digests {
		d := &r.Digests[i]
		p := filepath.Join(dir, d.Page)
		if err := render(p, "digest", newDigestView(r, d, version)); err != nil {
			return nil, err
		}
		w.Pages = append(w.Pages, p)
	}
	return w, nil
}

// render executes one template into path.
func render(path, name string, view any) error {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, view); err != nil {
		return failure.New(failure.Internal, path, err, "")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return outErr(filepath.Dir(path), err)
	}
	return nil
}

func outErr(dir string, err error) error {
	return failure.New(failure.Config, "--out "+dir, err, "choose a directory you can write to")
}

// indexView is what the overview shows.
type indexView struct {
	Title     string
	Version   string
	R         *Report
	Rows      []matrixRow
	Timelines []*Timeline
	// SeverityCharts are the known vulnerabilities of what each
	// environment runs, by severity.
	SeverityCharts []*SeverityChart
	Unverified     []string
	Deployed       int
	Revoked        int
	Drifting       int
}

// matrixRow is one target's cells, in environment order.
type matrixRow struct {
	Target string
	Cells  []Cell
}

func newIndexView(r *Report, version string) indexView {
	v := indexView{Title: "bakery report", Version: version, R: r, Unverified: r.Unverified(), SeverityCharts: severityCharts(r)}
	for _, t := range r.Targets {
		row := matrixRow{Target: t}
		for _, c := range r.Cells {
			if c.Target != t {
				continue
			}
			row.Cells = append(row.Cells, c)
			if c.Digest != "" {
				v.Deployed++
			}
			if c.Revoked != nil {
				v.Revoked++
			}
			if c.Digest != "" && c.Drift {
				v.Drifting++
			}
		}
		v.Rows = append(v.Rows, row)
		if tl := timeline(t, r.Cells); tl != nil {
			v.Timelines = append(v.Timelines, tl)
		}
	}
	return v
}

// digestView is what a digest's page shows.
type digestView struct {
	Title         string
	Version       string
	R             *Report
	D             *Digest
	PlatformChart *Bars
	LicenseChart  *Bars
	// Single is the platform of an image that is not an index, which its
	// scans name as "" (the image itself).
	Single string
}

func newDigestView(r *Report, d *Digest, version string) digestView {
	single := ""
	if len(d.Platforms) == 1 {
		single = d.Platforms[0].Platform
	}
	return digestView{
		Title: d.Target + " " + d.Digest, Version: version, R: r, D: d, Single: single,
		PlatformChart: bars("packages per platform", platformCounts(d.Platforms)),
		LicenseChart:  bars("license distribution", imageLicenses(d.Platforms)),
	}
}

// humanSize renders a byte count in SI units, as registries' UIs do.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f, i := float64(n), 0
	for ; f >= 1000 && i < len(units)-1; i++ {
		f /= 1000
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// count is "1 target", "3 targets": n and the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// testClass is the badge of a test summary: ok when every result that
// counts PASSED and every suite has one, bad when one FAILED, warn
// otherwise (a WARNED result, an untested suite).
func testClass(ev []promote.TestEvidence, suites []string) string {
	switch {
	case promote.TestFailed(ev):
		return "b-bad"
	case len(ev) == 0:
		return "b-warn"
	}
	for _, e := range ev {
		if e.Result != string(imagetest.Passed) {
			return "b-warn"
		}
	}
	for _, s := range suites {
		if !slices.ContainsFunc(ev, func(e promote.TestEvidence) bool { return e.Suite == s }) {
			return "b-warn"
		}
	}
	return "b-ok"
}

// resultClass is the badge of one test result's verdict.
func resultClass(result string) string {
	switch imagetest.Verdict(result) {
	case imagetest.Passed:
		return "b-ok"
	case imagetest.Warned:
		return "b-warn"
	}
	return "b-bad"
}
