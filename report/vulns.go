package report

import (
	"slices"
	"strings"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/vuln"
)

// Vulnerabilities is a digest's known vulnerabilities for its target, as
// every command reads them (vuln.Suppressions.Evidence, judged with
// bakery.yaml's VEX files and waivers and the VEX attached to the digest,
// at the time the report is made).
type Vulnerabilities struct {
	VulnCounts
	// Scans are the scans that count, one per platform, every finding in
	// them (suppressed ones included, with what suppresses them).
	Scans []vuln.Evidence `json:"scans"`
	// IgnoredVEX are the VEX documents that counted for nothing, and why.
	IgnoredVEX []vuln.IgnoredVEX `json:"ignoredVex,omitempty"`
}

// VulnCounts is a digest's vulnerabilities in short, as a cell of the
// matrix and the severity charts show them.
type VulnCounts struct {
	// Summary is vuln.Summary's: "unscanned" without a scan, "none" when no
	// finding counts, else the counts by severity and how many are
	// suppressed.
	Summary string `json:"summary"`
	// Counts counts the findings that count (not suppressed) by severity
	// (vuln.Counts).
	Counts map[string]int `json:"counts"`
}

// vulnerabilitiesOf is the vulnerability evidence of a report already
// verified, for target.
func (g *gatherer) vulnerabilitiesOf(rep *attest.Report, target string) *Vulnerabilities {
	ev, ignored := g.sup.Evidence(rep, target, g.opts.Now)
	return vulnerabilities(ev, ignored)
}

// vulnerabilities wraps evidence for the report.
func vulnerabilities(ev []vuln.Evidence, ignored []vuln.IgnoredVEX) *Vulnerabilities {
	if ev == nil {
		ev = []vuln.Evidence{}
	}
	return &Vulnerabilities{VulnCounts: VulnCounts{Summary: vuln.Summary(ev), Counts: vuln.Counts(ev)}, Scans: ev, IgnoredVEX: ignored}
}

// Findings is every finding of every scan, a row each, worst first (then by
// id, package and platform): what a digest's findings table lists.
func (v *Vulnerabilities) Findings() []FindingRow {
	if v == nil {
		return nil
	}
	var out []FindingRow
	for _, e := range v.Scans {
		for _, f := range e.Findings {
			out = append(out, FindingRow{Judged: f, Platform: e.Platform})
		}
	}
	slices.SortStableFunc(out, func(a, b FindingRow) int {
		if r := vuln.Rank(b.Severity) - vuln.Rank(a.Severity); r != 0 {
			return r
		}
		return strings.Compare(a.ID+"\x00"+a.Package+"\x00"+a.Platform, b.ID+"\x00"+b.Package+"\x00"+b.Platform)
	})
	return out
}

// Suppressed counts the findings something suppresses, over every scan.
func (v *Vulnerabilities) Suppressed() int {
	n := 0
	if v != nil {
		for _, e := range v.Scans {
			for _, f := range e.Findings {
				if f.Suppressed != nil {
					n++
				}
			}
		}
	}
	return n
}

// FindingRow is one finding of one platform's scan.
type FindingRow struct {
	vuln.Judged
	Platform string
}

// Fix is "fixed" when a fixed version exists, else "not-fixed": what the
// findings table filters on.
func (f FindingRow) Fix() string {
	if f.HasFix() {
		return "fixed"
	}
	return "not-fixed"
}

// VulnDelta is how the known vulnerabilities of a digest differ from those
// of the digest it is compared with (Against): the findings it has that the
// other had not (Added) and those the other had that it has not (Fixed), by
// vulnerability id and package over every platform, suppressed findings
// included and marked. Before and After are the two digests' summaries
// (vuln.Summary); when either has no scan, Scanned is false and nothing is
// compared: an unscanned digest is not one without vulnerabilities.
type VulnDelta struct {
	Against string       `json:"against"`
	Before  string       `json:"before"`
	After   string       `json:"after"`
	Scanned bool         `json:"scanned"`
	Added   []VulnChange `json:"added"`
	Fixed   []VulnChange `json:"fixed"`
}

// VulnChange is one vulnerability of one package that was added or fixed:
// the finding (of the first platform it is found on, with what suppresses
// it there) and every platform it is found on.
type VulnChange struct {
	vuln.Judged
	Platforms []string `json:"platforms"`
}

// CompareVulns is the delta from before (the evidence of digest against) to
// after: the one comparison the report and bakery diff make.
func CompareVulns(against string, before, after []vuln.Evidence) VulnDelta {
	d := VulnDelta{Against: against, Before: vuln.Summary(before), After: vuln.Summary(after), Added: []VulnChange{}, Fixed: []VulnChange{}}
	if len(before) == 0 || len(after) == 0 {
		return d
	}
	d.Scanned = true
	old, cur := byIDAndPackage(before), byIDAndPackage(after)
	for _, c := range cur {
		if !slices.ContainsFunc(old, func(o VulnChange) bool { return sameVuln(o, c) }) {
			d.Added = append(d.Added, c)
		}
	}
	for _, o := range old {
		if !slices.ContainsFunc(cur, func(c VulnChange) bool { return sameVuln(o, c) }) {
			d.Fixed = append(d.Fixed, o)
		}
	}
	return d
}

// byIDAndPackage lists ev's findings once per vulnerability id and package,
// worst first, then by id and package.
func byIDAndPackage(ev []vuln.Evidence) []VulnChange {
	var out []VulnChange
	for _, e := range ev {
		for _, f := range e.Findings {
			i := slices.IndexFunc(out, func(c VulnChange) bool { return sameVuln(c, VulnChange{Judged: f}) })
			if i < 0 {
				out = append(out, VulnChange{Judged: f, Platforms: []string{}})
				i = len(out) - 1
			}
			if !slices.Contains(out[i].Platforms, e.Platform) {
				out[i].Platforms = append(out[i].Platforms, e.Platform)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b VulnChange) int {
		if r := vuln.Rank(b.Severity) - vuln.Rank(a.Severity); r != 0 {
			return r
		}
		return strings.Compare(a.ID+"\x00"+a.Package, b.ID+"\x00"+b.Package)
	})
	return out
}

// sameVuln says two findings are of the same vulnerability in the same
// package (ids compare without case, as find and waivers do).
func sameVuln(a, b VulnChange) bool {
	return strings.EqualFold(a.ID, b.ID) && a.Package == b.Package
}

// severityOrder is the order of a bar's segments, worst first.
var severityOrder = []string{"critical", "high", "medium", "low", "negligible", "unknown"}

// SeverityChart is one environment's chart: a row per target it runs a
// digest of, a bar per row stacked by severity (the counts that count).
type SeverityChart struct {
	Environment string
	Width       int
	Height      int
	Rows        []SeverityRow
}

// SeverityRow is one target's digest in the environment.
type SeverityRow struct {
	Target, Digest string
	Y              int
	// Summary is the digest's vuln.Summary ("unscanned", "none", …);
	// SummaryX is where it is written, after the bar.
	Summary  string
	SummaryX int
	Segments []Segment
}

// Segment is one severity's part of a bar.
type Segment struct {
	Severity string
	Count    int
	X, Y, W  int
}

const (
	sevLabel = 220
	sevMax   = 300
)

// severityCharts draws, for each environment of r, the counts by severity
// of the digest each target runs there; every chart on one scale, so that
// environments compare. An environment that runs nothing has no chart.
func severityCharts(r *Report) []*SeverityChart {
	top := 1
	for _, c := range r.Cells {
		if c.Vulnerabilities != nil {
			top = max(top, total(c.Vulnerabilities.Counts))
		}
	}
	var out []*SeverityChart
	for _, env := range r.Environments {
		ch := &SeverityChart{Environment: env, Width: plotWidth}
		for _, c := range r.Cells {
			if c.Environment != env || c.Vulnerabilities == nil {
				continue
			}
			row := SeverityRow{Target: c.Target, Digest: c.Digest, Y: 4 + len(ch.Rows)*barRow, Summary: c.Vulnerabilities.Summary}
			x := sevLabel
			for _, s := range severityOrder {
				n := c.Vulnerabilities.Counts[s]
				if n == 0 {
					continue
				}
				w := max(2, sevMax*n/top)
				row.Segments = append(row.Segments, Segment{Severity: s, Count: n, X: x, Y: row.Y, W: w})
				x += w
			}
			row.SummaryX = x + 6
			ch.Rows = append(ch.Rows, row)
		}
		if len(ch.Rows) > 0 {
			ch.Height = len(ch.Rows)*barRow + 8
			out = append(out, ch)
		}
	}
	return out
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// vulnClass is the badge of a digest's vulnerabilities: bad when a
// critical or high finding counts, warn when it is unscanned or another
// finding counts, ok when none counts.
func vulnClass(v *VulnCounts) string {
	switch {
	case v == nil || v.Summary == "unscanned":
		return "b-warn"
	case v.Counts["critical"] > 0 || v.Counts["high"] > 0:
		return "b-bad"
	case total(v.Counts) > 0:
		return "b-warn"
	}
	return "b-ok"
}

// changeRow is one row of a vulnerability delta's table.
type changeRow struct {
	// Change is "added" or "fixed".
	Change string
	VulnChange
}

// vulnChanges lists d's added, then fixed, vulnerabilities as rows.
func vulnChanges(d *VulnDelta) []changeRow {
	var out []changeRow
	for _, c := range d.Added {
		out = append(out, changeRow{"added", c})
	}
	for _, c := range d.Fixed {
		out = append(out, changeRow{"fixed", c})
	}
	return out
}
