package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/vuln"
)

// TestFailsAgreesWithThePolicy: the Go rule that rescan and find apply
// (Fails) and the shipped vulnerabilities policy that promote evaluates
// give one verdict: over every severity, fix state, suppression and id
// listing, under every policy shape, the policy denies exactly when Fails
// says the finding fails.
func TestFailsAgreesWithThePolicy(t *testing.T) {
	ctx := context.Background()
	e, err := policies.Compile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pols []config.VulnPolicy
	for _, sev := range append([]string{""}, config.Severities...) {
		for _, onlyFixed := range []bool{false, true} {
			for _, ids := range [][]string{nil, {"cve-2099-0001"}} {
				pols = append(pols, config.VulnPolicy{DenySeverity: sev, OnlyFixed: onlyFixed, DenyIDs: ids})
			}
		}
	}
	n := 0
	for _, p := range pols {
		for _, sev := range vuln.Severities {
			for _, fixed := range []bool{false, true} {
				for _, suppressed := range []bool{false, true} {
					f := vuln.Judged{Finding: vuln.Finding{ID: "CVE-2099-0001", Package: "libc6", Version: "2.36", Severity: sev, FixState: "not-fixed"}}
					if fixed {
						f.FixState, f.Fixed = "fixed", []string{"2.37"}
					}
					if suppressed {
						f.Suppressed = &vuln.Suppression{By: "waiver", Source: "bakery.yaml", Until: "2099-01-01", Reason: "r", ApprovedBy: "sec"}
					}
					in := policies.Input{Image: policies.Image{Digest: "sha256:aa"}, Target: "app", Environment: "prod",
						Vulnerabilities: policies.Vulnerabilities{
							Policy: &policies.VulnPolicy{DenySeverity: p.DenySeverity, DenyRank: vuln.Rank(p.DenySeverity), OnlyFixed: p.OnlyFixed,
								DenyIDs: p.DenyIDs, MaxAgeSeconds: 3600},
							Platforms: []string{""},
							Scans: []policies.VulnScan{{Finished: "2026-01-01T00:00:00Z", DBBuilt: "2026-01-01T00:00:00Z", KeyID: "k",
								Findings: []policies.VulnFinding{{ID: f.ID, Package: f.Package, Version: f.Version, Severity: f.Severity,
									Rank: vuln.Rank(f.Severity), FixedIn: f.Fixed, HasFix: f.HasFix(), Suppressed: suppressedText(f)}}}},
						}}
					dec, err := e.Evaluate(ctx, []string{"vulnerabilities"}, in)
					if err != nil {
						t.Fatal(err)
					}
					if dec.Allowed == Fails(f, &p) {
						t.Errorf("policy %+v, finding %s fixed=%v suppressed=%v: Fails %v, the policy allows %v %v",
							p, sev, fixed, suppressed, Fails(f, &p), dec.Allowed, fmt.Sprint(dec.Violations))
					}
					n++
				}
			}
		}
	}
	if n != len(pols)*len(vuln.Severities)*4 {
		t.Fatalf("checked %d cases", n)
	}
}

func suppressedText(f vuln.Judged) string {
	if f.Suppressed == nil {
		return ""
	}
	return f.Suppressed.String()
}
