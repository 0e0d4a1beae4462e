package pipeline

import (
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/vuln"
)

func judged(id, severity string, fixed ...string) vuln.Judged {
	f := vuln.Finding{ID: id, Package: "libc6", Version: "1", Severity: severity, FixState: "not-fixed", Fixed: fixed}
	if len(fixed) > 0 {
		f.FixState = "fixed"
	}
	return vuln.Judged{Finding: f}
}

// TestFails is the one rule of a finding failing a policy, case by case.
func TestFails(t *testing.T) {
	waived := judged("CVE-1", "critical", "2")
	waived.Suppressed = &vuln.Suppression{By: "waiver", Source: "bakery.yaml"}
	high := &config.VulnPolicy{DenySeverity: "high"}
	fixedOnly := &config.VulnPolicy{DenySeverity: "medium", OnlyFixed: true}
	ids := &config.VulnPolicy{DenyIDs: []string{"cve-9"}}
	for _, tc := range []struct {
		name string
		f    vuln.Judged
		p    *config.VulnPolicy
		want bool
	}{
		{"no policy", judged("CVE-1", "critical"), nil, false},
		{"empty policy", judged("CVE-1", "critical"), &config.VulnPolicy{}, false},
		{"at the severity", judged("CVE-1", "high"), high, true},
		{"above it", judged("CVE-1", "critical"), high, true},
		{"below it", judged("CVE-1", "medium"), high, false},
		{"unknown severity", judged("CVE-1", "unknown"), &config.VulnPolicy{DenySeverity: "negligible"}, false},
		{"suppressed", waived, high, false},
		{"suppressed, denied by id", waived, &config.VulnPolicy{DenyIDs: []string{"CVE-1"}}, false},
		{"only fixed, no fix", judged("CVE-1", "critical"), fixedOnly, false},
		{"only fixed, a fix", judged("CVE-1", "medium", "2"), fixedOnly, true},
		{"only fixed, wont-fix", vuln.Judged{Finding: vuln.Finding{ID: "CVE-1", Severity: "critical", FixState: "wont-fix"}}, fixedOnly, false},
		{"denied id, any case, no fix", judged("CVE-9", "low"), ids, true},
		{"denied id, with only_fixed", judged("CVE-9", "low"), &config.VulnPolicy{DenyIDs: []string{"CVE-9"}, OnlyFixed: true}, true},
		{"another id", judged("CVE-8", "critical"), ids, false},
	} {
		if got := Fails(tc.f, tc.p); got != tc.want {
			t.Errorf("%s: Fails = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNewlyFailing: what fails now and did not in the scan before; for a
// digest never scanned, everything that fails.
func TestNewlyFailing(t *testing.T) {
	p := &config.VulnPolicy{DenySeverity: "high"}
	before := []vuln.Evidence{{Platform: "linux/amd64", Findings: []vuln.Judged{judged("CVE-1", "high"), judged("CVE-2", "low")}}}
	now := []vuln.Evidence{{Platform: "linux/amd64", Findings: []vuln.Judged{judged("CVE-1", "high"), judged("CVE-2", "critical"), judged("CVE-3", "medium")}},
		{Platform: "linux/arm64", Findings: []vuln.Judged{judged("CVE-1", "high")}}}
	name := func(fs []Failing) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Platform+" "+f.ID)
		}
		return strings.Join(out, ", ")
	}
	if got := name(NewlyFailing(&Scanned{Before: before, Evidence: now}, p)); got != "linux/amd64 CVE-2, linux/arm64 CVE-1" {
		t.Errorf("newly failing: %q", got)
	}
	if got := name(NewlyFailing(&Scanned{Evidence: now}, p)); got != "linux/amd64 CVE-1, linux/amd64 CVE-2, linux/arm64 CVE-1" {
		t.Errorf("first scan: %q", got)
	}
	if got := len(Failures(now, p)); got != 3 {
		t.Errorf("failures: %d", got)
	}
}
