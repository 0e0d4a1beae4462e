package vuln

import (
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/attest"
)

// Evidence is the scan that counts for one platform of a digest (see
// Scans), its findings judged (Judge): what every command shows of a
// digest's vulnerabilities and what the vulnerabilities policy decides on.
type Evidence struct {
	// Platform is "" for an image that is not an index.
	Platform string `json:"platform"`
	// Environment is where the scanned digest was ("" for the build's).
	Environment string `json:"environment"`
	// Finished is when the scan ended; DBBuilt is the build time of the
	// database it used (RFC 3339, whole seconds).
	Finished string `json:"finished"`
	DBBuilt  string `json:"dbBuilt"`
	Scanner  string `json:"scanner"`
	KeyID    string `json:"keyId"`
	// Findings are every finding, suppressed ones included (Suppressed
	// says by what).
	Findings []Judged `json:"findings"`

	finished, dbBuilt time.Time
}

// Judged is a finding and what, if anything, suppresses it.
type Judged struct {
	Finding
	// Suppressed says what suppresses the finding; nil when it counts.
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// Note says why a suppression that matched no longer holds (an expired
	// waiver), or "".
	Note string `json:"note,omitempty"`
}

// Suppression is a signed VEX statement or a waiver that suppresses a
// finding.
type Suppression struct {
	// By is "vex" or "waiver".
	By string `json:"by"`
	// Status and Justification are the VEX statement's.
	Status        string `json:"status,omitempty"`
	Justification string `json:"justification,omitempty"`
	// Source is the VEX document (a file, or "attestation" with its layer)
	// or "bakery.yaml" for a waiver.
	Source string `json:"source"`
	KeyID  string `json:"keyId,omitempty"`
	// Until, Reason and ApprovedBy are the waiver's.
	Until      string `json:"until,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ApprovedBy string `json:"approvedBy,omitempty"`
}

// String says the suppression in a few words.
func (s Suppression) String() string {
	if s.By == "waiver" {
		return fmt.Sprintf("waived until %s by %s (%s)", s.Until, s.ApprovedBy, s.Reason)
	}
	j := ""
	if s.Justification != "" {
		j = " (" + s.Justification + ")"
	}
	return fmt.Sprintf("VEX %s%s, %s signed by %s", s.Status, j, s.Source, s.KeyID)
}

// Scans is the vulnerability evidence of a verified report for target: of
// the verified scans bound to target and, on an index, to the platform
// image among their signed subjects that they name, the one per platform
// made with the newest database, and of those the newest: a scan replayed
// from an older database never hides what a newer one found. Sorted by
// platform; never nil. Findings are not judged yet (see Judge).
func Scans(rep *attest.Report, target string) []Evidence {
	newest := map[string]Evidence{}
	for a, p := range boundScans(rep, target) {
		d := p.Scanner.Result.Bakery
		e := Evidence{Platform: d.Platform, Environment: d.Environment, Scanner: p.Scanner.Version, KeyID: a.KeyID,
			finished: p.Metadata.ScanFinishedOn.UTC(), dbBuilt: d.DBBuilt.UTC()}
		e.Finished, e.DBBuilt = e.finished.Format(time.RFC3339), e.dbBuilt.Format(time.RFC3339)
		for _, f := range p.Scanner.Result.Findings {
			e.Findings = append(e.Findings, Judged{Finding: f})
		}
		if e.Findings == nil {
			e.Findings = []Judged{}
		}
		if old, ok := newest[e.Platform]; !ok || e.dbBuilt.After(old.dbBuilt) || e.dbBuilt.Equal(old.dbBuilt) && e.finished.After(old.finished) {
			newest[e.Platform] = e
		}
	}
	out := make([]Evidence, 0, len(newest))
	for _, e := range newest {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Platform < out[j].Platform })
	return out
}

// boundScans yields rep's verified scans of target, each bound to the
// platform it names, with its predicate.
func boundScans(rep *attest.Report, target string) iter.Seq2[attest.AttestationInfo, Predicate] {
	return func(yield func(attest.AttestationInfo, Predicate) bool) {
		for _, a := range rep.Attestations {
			if a.PredicateType != PredicateType {
				continue
			}
			p, err := ParsePredicate(a.Predicate)
			if err != nil {
				continue
			}
			d := p.Scanner.Result.Bakery
			if d.Target != target || !boundPlatform(d.Platform, a.Subjects, rep.Platforms) {
				continue
			}
			if !yield(a, p) {
				return
			}
		}
	}
}

// boundPlatform says whether a scan that names platform is about it: on an
// index, its subjects must include that platform's image; on a single
// image (or a machine image) it must name no platform.
func boundPlatform(platform string, subjects []string, platforms []attest.PlatformImage) bool {
	if len(platforms) == 0 {
		return platform == ""
	}
	for _, p := range platforms {
		if p.Platform != platform {
			continue
		}
		for _, s := range subjects {
			if strings.HasSuffix(s, "@"+p.Digest) {
				return true
			}
		}
	}
	return false
}

// FinishedAt and DBBuiltAt are Finished and DBBuilt as times.
func (e Evidence) FinishedAt() time.Time { return e.finished }

// DBBuiltAt is when the scan's database was built.
func (e Evidence) DBBuiltAt() time.Time { return e.dbBuilt }

// Counts counts the findings that count (not suppressed) by severity.
func Counts(ev []Evidence) map[string]int {
	out := map[string]int{}
	seen := map[string]bool{}
	for _, e := range ev {
		for _, f := range e.Findings {
			key := f.ID + "\x00" + f.Package + "\x00" + f.Version
			if f.Suppressed != nil || seen[key] {
				continue
			}
			seen[key] = true
			out[f.Severity]++
		}
	}
	return out
}

// Summary says a digest's vulnerability evidence in a few words, the same
// in every command: "unscanned" without a scan, "none" when no finding
// counts, else the counts that count by severity, worst first ("1
// critical, 2 high"), and how many are suppressed.
func Summary(ev []Evidence) string {
	if len(ev) == 0 {
		return "unscanned"
	}
	counts := Counts(ev)
	var parts []string
	for i := len(Severities) - 1; i >= 0; i-- {
		if n := counts[Severities[i]]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, Severities[i]))
		}
	}
	suppressed := 0
	for _, e := range ev {
		for _, f := range e.Findings {
			if f.Suppressed != nil {
				suppressed++
			}
		}
	}
	s := "none"
	if len(parts) > 0 {
		s = strings.Join(parts, ", ")
	}
	if suppressed > 0 {
		s += fmt.Sprintf(" (%d suppressed)", suppressed)
	}
	return s
}
