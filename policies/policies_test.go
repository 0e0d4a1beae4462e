package policies

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/bakeryhq/bakery/internal/failure"
)

func good() Input {
	in := Input{
		Image:               Image{Repository: "r/app", Digest: "sha256:aa", Reference: "r/app@sha256:aa"},
		Target:              "app",
		Environment:         "prod",
		PreviousEnvironment: "staging",
		Signatures:          []Signature{{KeyID: "k1"}},
		SBOM:                SBOM{Present: true, Packages: []Package{{Name: "bash", Version: "5.2", Licenses: []string{"GPL-3.0-or-later"}}}},
		Provenance:          &Provenance{BuilderID: "https://ci.example", ResolvedDependencies: []string{}},
		Receipts:            []Receipt{{Target: "app", Repository: "r/staging/app", Environment: "staging", Digest: "sha256:aa", Result: "PASSED"}},
		Config:              NewConfig([]string{"https://ci.example"}, []string{"AGPL-3.0-only"}, []string{"telnetd"}),
	}
	in.SBOM.Platforms = map[string][]Package{"linux/amd64": in.SBOM.Packages}
	in.SBOM.Index()
	in.Image.Platforms = []string{"linux/amd64"}
	in.Config.Tests = []string{"structure"}
	in.Tests = []TestResult{
		{Suite: "structure", Platform: "linux/amd64", Result: "PASSED", Finished: "2026-01-01T10:00:00Z", AgeSeconds: 86400, KeyID: "k1", Runner: "node-1"},
		{Suite: "smoke", Environment: "staging", Result: "PASSED", Finished: "2026-01-01T12:00:00Z", AgeSeconds: 79200, KeyID: "k1", Runner: "junit"},
	}
	in.TestedIn = &TestedIn{Environment: "staging", Suites: []string{"smoke"}, SoakSeconds: 3600}
	in.Vulnerabilities = Vulnerabilities{
		Policy:    &VulnPolicy{DenySeverity: "high", DenyRank: 4, DenyIDs: []string{"CVE-2099-0009"}, MaxAgeSeconds: 86400},
		Database:  "2026-01-01T00:00:00Z",
		Platforms: []string{"linux/amd64"},
		Scans: []VulnScan{{Platform: "linux/amd64", Finished: "2026-01-01T10:00:00Z", AgeSeconds: 3600, DBBuilt: "2026-01-01T00:00:00Z", KeyID: "k1",
			Findings: []VulnFinding{{ID: "CVE-2099-0002", Package: "zlib1g", Version: "1.2", Severity: "low", Rank: 2, FixedIn: []string{}}}}},
	}
	return in
}

// TestShippedPolicies runs a pass and a deny case for every shipped policy
// through the Go engine, with the typed input.
func ptr(n int) *int { return &n }

func TestShippedPolicies(t *testing.T) {
	ctx := context.Background()
	e, err := Compile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(e.Names(), ",") != "license_denylist,max_age,not_revoked,package_denylist,promoted_through,provenance,sbom,sbom_delta,signed,tested,tested_in,vulnerabilities" {
		t.Fatalf("names = %v", e.Names())
	}
	dec, err := e.Evaluate(ctx, Shipped, good())
	if err != nil || !dec.Allowed || !strings.HasPrefix(dec.Digest, "sha256:") {
		t.Fatalf("good input: %+v %v", dec, err)
	}
	for _, tc := range []struct {
		policy string
		mutate func(*Input)
		want   string
	}{
		{"signed", func(in *Input) { in.Signatures = nil }, "is not signed by a trusted key"},
		{"sbom", func(in *Input) { in.SBOM = SBOM{} }, "no verified SBOM"},
		{"provenance", func(in *Input) { in.Provenance = nil }, "no verified SLSA provenance"},
		{"provenance", func(in *Input) { in.Provenance.BuilderID = "https://evil.example" }, `builder "https://evil.example" is not allowed`},
		{"promoted_through", func(in *Input) { in.Receipts = nil }, "has no receipt for staging"},
		{"promoted_through", func(in *Input) { in.Receipts[0].Target = "other" }, "has no receipt for staging"},
		{"license_denylist", func(in *Input) { in.SBOM.Packages[0].Licenses = []string{"AGPL-3.0-only"} }, "package bash 5.2 is licensed AGPL-3.0-only, which prod denies"},
		{"package_denylist", func(in *Input) { in.SBOM.Packages[0].Name = "telnetd" }, "package telnetd 5.2 is denied in prod"},
		{"max_age", func(in *Input) { in.MaxAgeDays, in.AgeDays = 30, ptr(31) }, "was built 31 days ago; prod allows at most 30"},
		{"max_age", func(in *Input) { in.MaxAgeDays = 30 }, "its age in prod is unknown"},
		{"sbom_delta", func(in *Input) {
			in.Config.LicenseAllowlist = []string{"MIT"}
			in.SBOMDelta = &Delta{NewLicenses: []string{"GPL-3.0-or-later"}}
		}, "license GPL-3.0-or-later is new to prod and not in policy.license_allowlist"},
		{"sbom_delta", func(in *Input) {
			in.Config.PackageAllowlist = []string{"bash"}
			in.SBOMDelta = &Delta{Added: []Package{{Name: "nc", Version: "1.0"}}}
		}, "package nc 1.0 is new to prod and not in policy.package_allowlist"},
		{"not_revoked", func(in *Input) {
			in.Revoked = Revocation{Revoked: true, Reason: "CVE-2024-3094", By: "ops", EffectiveAt: "2026-01-01T00:00:00Z"}
		}, "sha256:aa was revoked at 2026-01-01T00:00:00Z by ops: CVE-2024-3094"},
	} {
		in := good()
		tc.mutate(&in)
		in.SBOM.Index()
		dec, err := e.Evaluate(ctx, Shipped, in)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Allowed || len(dec.Violations) != 1 || dec.Violations[0].Policy != tc.policy || !strings.Contains(dec.Violations[0].Message, tc.want) {
			t.Errorf("%s: %+v, want one violation containing %q", tc.policy, dec.Violations, tc.want)
		}
	}
	in := good()
	in.Receipts, in.AcceptDirect = nil, true
	if dec, _ := e.Evaluate(ctx, []string{"promoted_through"}, in); !dec.Allowed {
		t.Errorf("accept_direct: %+v", dec)
	}
}

// TestRegoTests runs policies/*_test.rego, as `opa test policies/` does.
func TestRegoTests(t *testing.T) {
	results, err := tester.Run(context.Background(), ".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range results {
		n++
		if r.Fail || r.Error != nil {
			t.Errorf("%s: fail=%v err=%v", r.Name, r.Fail, r.Error)
		}
	}
	if n < 19 {
		t.Errorf("ran %d rego tests, want at least 19", n)
	}
}

func TestUndefinedAndUnknownPoliciesDeny(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "custom.rego"), []byte("package bakery.custom\n\ndeny := input.nothing.here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Compile(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.Evaluate(context.Background(), []string{"custom", "nonexistent"}, good())
	if err != nil {
		t.Fatal(err)
	}
	if dec.Allowed || len(dec.Violations) != 2 || !strings.Contains(dec.Violations[0].Message, "undefined") || !strings.Contains(dec.Violations[1].Message, "not defined") {
		t.Errorf("violations = %+v", dec.Violations)
	}
}

func TestCompileErrorNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.rego")
	if err := os.WriteFile(bad, []byte("package bakery.broken\n\ndeny contains msg if {\n\tmsg := \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Compile(context.Background(), []string{dir})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), bad+":") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkDecision measures one promotion decision: every shipped policy on
// an input the size of the example golden image (88 packages).
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	e, err := Compile(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := good()
	for i := 0; i < 88; i++ {
		in.SBOM.Packages = append(in.SBOM.Packages, Package{Name: "pkg" + string(rune('a'+i%26)), Version: "1.0", Licenses: []string{"GPL-2.0-only", "MIT"}})
	}
	in.SBOM.Index()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dec, err := e.Evaluate(ctx, Shipped, in)
		if err != nil || !dec.Allowed {
			b.Fatal(dec, err)
		}
	}
}

// TestDocumentMatchesJSON keeps the fast conversion in step with the JSON
// names the policies are documented with.
func TestDocumentMatchesJSON(t *testing.T) {
	full := good()
	full.Signatures[0].SignedAt = "2026-01-01T00:00:00Z"
	full.Provenance.StartedOn, full.Provenance.FinishedOn = "a", "b"
	full.Provenance.ResolvedDependencies = []string{"pkg:docker/base@1"}
	full.SourceEnvironment, full.AcceptDirect = "staging", true
	full.Receipts[0].Time, full.Receipts[0].KeyID, full.Receipts[0].Action = "t", "k", "promote"
	for _, in := range []Input{good(), full} {
		fast, err := in.document()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := in.jsonDocument()
		if err != nil {
			t.Fatal(err)
		}
		if fast.Compare(ref) != 0 {
			t.Errorf("document differs from JSON:\nfast %v\njson %v", fast, ref)
		}
	}
}

// TestDiff: added, removed and changed packages by name and type, and only
// licenses no package had before.
func TestDiff(t *testing.T) {
	from := []Package{{Name: "bash", Version: "5.2", Licenses: []string{"GPL-3.0-or-later"}}, {Name: "xz-utils", Version: "5.4.1", Type: "deb", Licenses: []string{"PD"}},
		{Name: "telnet", Version: "0.17", Type: "deb"}}
	to := []Package{{Name: "bash", Version: "5.2", Licenses: []string{"GPL-3.0-or-later"}}, {Name: "xz-utils", Version: "5.6.0", Type: "deb", Licenses: []string{"PD"}},
		{Name: "nc", Version: "1.10", Type: "deb", Licenses: []string{"MIT", "GPL-3.0-or-later"}}}
	d := Diff("sha256:aa", from, to)
	if len(d.Added) != 1 || d.Added[0].Name != "nc" || len(d.Removed) != 1 || d.Removed[0].Name != "telnet" ||
		len(d.Changed) != 1 || d.Changed[0] != (Change{Name: "xz-utils", Type: "deb", From: "5.4.1", To: "5.6.0"}) ||
		strings.Join(d.NewLicenses, ",") != "MIT" || d.Against != "sha256:aa" {
		t.Errorf("diff %+v", d)
	}
	if d := Diff("", from, from); len(d.Added)+len(d.Removed)+len(d.Changed)+len(d.NewLicenses) != 0 {
		t.Errorf("diff of the same packages: %+v", d)
	}
}

// result is a verified test result of suite on platform in environment.
func result(suite, platform, environment, verdict, finished string, ageSeconds int) TestResult {
	return TestResult{Suite: suite, Platform: platform, Environment: environment, Result: verdict, Finished: finished, AgeSeconds: ageSeconds, KeyID: "k1", Runner: "node-1"}
}

// TestTestedPolicies: tested wants every configured suite's newest result
// PASSED on every platform; tested_in wants each listed suite's newest
// result in its environment PASSED and soaked. want "" means allowed.
func TestTestedPolicies(t *testing.T) {
	ctx := context.Background()
	e, err := Compile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const t1, t2, t3 = "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T11:00:00.5+00:00"
	two := func(in *Input) {
		in.Image.Platforms = []string{"linux/amd64", "linux/arm64"}
		in.Tests = []TestResult{result("structure", "linux/amd64", "", "PASSED", t1, 7200), result("structure", "linux/arm64", "", "PASSED", t1, 7200)}
	}
	for _, tc := range []struct {
		name, policy string
		mutate       func(*Input)
		want         string
	}{
		{"two platforms passed", "tested", two, ""},
		{"missing suite", "tested", func(in *Input) { in.Config.Tests = append(in.Config.Tests, "ports") },
			"sha256:aa has no result of suite ports on linux/amd64: run `bakery test app`"},
		{"missing platform", "tested", func(in *Input) { two(in); in.Tests = in.Tests[:1] },
			"sha256:aa has no result of suite structure on linux/arm64: run `bakery test app` to test it (`bakery build app` tests what it pushes)"},
		{"newer FAILED withdraws", "tested", func(in *Input) {
			two(in)
			in.Tests = append(in.Tests, result("structure", "linux/arm64", "staging", "FAILED", t2, 3600))
		},
			"sha256:aa: the newest result of suite structure on linux/arm64 is FAILED (finished 2026-01-01T11:00:00Z); tested requires PASSED: fix the image and run `bakery build app`, or `bakery test app` to test it again"},
		{"older FAILED, newer PASSED", "tested", func(in *Input) {
			two(in)
			in.Tests = append(in.Tests, result("structure", "linux/arm64", "", "FAILED", t1, 7200), result("structure", "linux/arm64", "", "PASSED", t3, 3599))
			in.Tests[1].Result = "FAILED"
		}, ""},
		{"FAILED ties PASSED", "tested", func(in *Input) {
			two(in)
			in.Tests = append(in.Tests, result("structure", "linux/arm64", "", "FAILED", t1, 7200))
		},
			"suite structure on linux/arm64 is FAILED"},
		{"newest by time, not by text", "tested", func(in *Input) {
			in.Tests = []TestResult{result("structure", "linux/amd64", "", "FAILED", t1, 7200), result("structure", "linux/amd64", "", "PASSED", "2026-01-01T12:00:00+05:00", 14400)}
		}, "the newest result of suite structure on linux/amd64 is FAILED (finished 2026-01-01T10:00:00Z)"},
		{"WARNED is not PASSED", "tested", func(in *Input) { two(in); in.Tests[0].Result = "WARNED" },
			"the newest result of suite structure on linux/amd64 is WARNED"},
		{"whole-image result does not stand in for a platform", "tested", func(in *Input) { two(in); in.Tests[1].Platform = "" },
			"sha256:aa has no result of suite structure on linux/arm64"},
		{"machine image: any platform", "tested", func(in *Input) { in.Image.Platforms = nil; in.Tests = in.Tests[:1] }, ""},
		{"machine image without a result", "tested", func(in *Input) { in.Image.Platforms = nil; in.Tests = nil },
			"sha256:aa has no result of suite structure: a machine image is tested inside its packer build: `bakery build app` runs its suites with the bakery-test provisioner"},
		{"no suites configured", "tested", func(in *Input) { in.Config.Tests = nil }, "target app configures no test suite that bakery runs"},
		{"unreadable time", "tested", func(in *Input) { in.Tests[0].Finished = "yesterday" }, `finished at "yesterday", which is not an RFC 3339 time`},
		{"soaked", "tested_in", func(in *Input) { in.TestedIn.SoakSeconds = 79200 }, ""},
		{"soak not elapsed", "tested_in", func(in *Input) { in.Tests[1].AgeSeconds = 1140 },
			"sha256:aa: suite smoke PASSED in staging at 2026-01-01T12:00:00Z, 19m ago; prod requires 1h of soak: 41m left"},
		{"newer FAILED in staging", "tested_in", func(in *Input) {
			in.Tests = append(in.Tests, result("smoke", "", "staging", "FAILED", "2026-01-01T13:00:00Z", 10))
		},
			"sha256:aa: the newest result of suite smoke in staging is FAILED (finished 2026-01-01T13:00:00Z); prod requires PASSED"},
		{"another environment's result", "tested_in", func(in *Input) { in.Tests[1].Environment = "dev" },
			"sha256:aa has no result of suite smoke in staging, which prod requires: once staging runs it, run `bakery test app --env staging`"},
		{"FAILED elsewhere does not count", "tested_in", func(in *Input) {
			in.Tests = append(in.Tests, result("smoke", "", "dev", "FAILED", "2026-01-01T13:00:00Z", 10))
		}, ""},
		{"no suites listed", "tested_in", func(in *Input) { in.TestedIn.Suites = nil }, "prod's tested_in names no suites"},
		{"tested_in null", "tested_in", func(in *Input) { in.TestedIn, in.Tests = nil, nil }, ""},
	} {
		in := good()
		tc.mutate(&in)
		dec, err := e.Evaluate(ctx, []string{tc.policy}, in)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && !dec.Allowed {
			t.Errorf("%s: %+v, want allowed", tc.name, dec.Violations)
		}
		if tc.want != "" && (len(dec.Violations) != 1 || !strings.Contains(dec.Violations[0].Message, tc.want)) {
			t.Errorf("%s: %+v, want one violation containing %q", tc.name, dec.Violations, tc.want)
		}
	}
}

// TestVulnerabilitiesPolicy: every platform scanned with the loaded
// database, recently, and no finding that counts is denied. want "" means
// allowed.
func TestVulnerabilitiesPolicy(t *testing.T) {
	ctx := context.Background()
	e, err := Compile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	high := VulnFinding{ID: "CVE-2099-0001", Package: "libc6", Version: "2.36-9", Severity: "high", Rank: 4, FixedIn: []string{"2.36-10"}, HasFix: true}
	add := func(f VulnFinding) func(*Input) {
		return func(in *Input) {
			in.Vulnerabilities.Scans[0].Findings = append(in.Vulnerabilities.Scans[0].Findings, f)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Input)
		want   string
	}{
		{"low only", func(*Input) {}, ""},
		{"high with a fix", add(high), "sha256:aa: CVE-2099-0001 (high, libc6 2.36-9, fixed in 2.36-10) on linux/amd64: prod denies high and above: upgrade"},
		{"critical", add(VulnFinding{ID: "CVE-2099-0003", Package: "p", Version: "1", Severity: "critical", Rank: 5}), "CVE-2099-0003 (critical, p 1, no fix yet)"},
		{"suppressed by VEX", func(in *Input) { f := high; f.Suppressed = "VEX not_affected"; add(f)(in) }, ""},
		{"only_fixed, no fix", func(in *Input) { f := high; f.HasFix = false; in.Vulnerabilities.Policy.OnlyFixed = true; add(f)(in) }, ""},
		{"only_fixed, a fix", func(in *Input) { in.Vulnerabilities.Policy.OnlyFixed = true; add(high)(in) }, "prod denies high and above with a fix"},
		{"denied id, low, suppressed elsewhere no", add(VulnFinding{ID: "cve-2099-0009", Package: "p", Version: "1", Severity: "low", Rank: 2}), "cve-2099-0009 (low, p 1, no fix yet) on linux/amd64 is denied in prod by id"},
		{"no severity threshold", func(in *Input) { in.Vulnerabilities.Policy.DenyRank = 0; add(high)(in) }, ""},
		{"unscanned platform", func(in *Input) { in.Vulnerabilities.Platforms = append(in.Vulnerabilities.Platforms, "linux/arm64") },
			"sha256:aa has no verified vulnerability scan on linux/arm64"},
		{"single image", func(in *Input) {
			in.Vulnerabilities.Platforms = []string{""}
			in.Vulnerabilities.Scans[0].Platform = ""
		}, ""},
		{"scan too old", func(in *Input) { in.Vulnerabilities.Scans[0].AgeSeconds = 90000 }, "finished 2026-01-01T10:00:00Z, 90000s ago; prod allows 86400s"},
		{"older database", func(in *Input) { in.Vulnerabilities.Database = "2026-01-02T00:00:00Z" },
			"used a database built 2026-01-01T00:00:00Z, older than the one loaded (built 2026-01-02T00:00:00Z)"},
		{"no database loaded", func(in *Input) { in.Vulnerabilities.Database = "" }, ""},
		{"no policy set", func(in *Input) { in.Vulnerabilities.Policy = nil }, "prod lists the vulnerabilities policy but sets none"},
	} {
		in := good()
		tc.mutate(&in)
		dec, err := e.Evaluate(ctx, []string{"vulnerabilities"}, in)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && !dec.Allowed {
			t.Errorf("%s: %+v, want allowed", tc.name, dec.Violations)
		}
		if tc.want != "" && (len(dec.Violations) != 1 || !strings.Contains(dec.Violations[0].Message, tc.want)) {
			t.Errorf("%s: %+v, want one violation containing %q", tc.name, dec.Violations, tc.want)
		}
	}
}
