package cli

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

const fullDigest = "sha256:0e6400565c7c5691aa11bb22cc33dd44ee55ff6600112233445566778899aabb"

func TestShortDigestAndRef(t *testing.T) {
	text, wide := style{}, style{wide: true}
	for in, want := range map[string]string{
		fullDigest:         "sha256:0e6400565c7c",
		"sha256:0e64005":   "sha256:0e64005",
		"not-a-digest":     "not-a-digest",
		"sha512:" + "ab12": "sha512:ab12",
	} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
	if got := text.digest(""); got != "-" {
		t.Errorf("no digest = %q, want -", got)
	}
	if got := wide.digest(fullDigest); got != fullDigest {
		t.Errorf("wide digest = %q", got)
	}
	ref := "127.0.0.1:5000/dev/app@" + fullDigest
	if got := text.ref(ref); got != "127.0.0.1:5000/dev/app@sha256:0e6400565c7c" {
		t.Errorf("ref = %q", got)
	}
	if got := wide.ref(ref); got != ref {
		t.Errorf("wide ref = %q", got)
	}
	if got := text.ref("127.0.0.1:5000/dev/app:dev"); got != "127.0.0.1:5000/dev/app:dev" {
		t.Errorf("tag ref = %q", got)
	}
}

func TestAgeIsKubectls(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:             "0s",
		0:                        "0s",
		90 * time.Second:         "90s",
		5 * time.Minute:          "5m",
		119 * time.Minute:        "119m",
		3 * time.Hour:            "3h",
		47 * time.Hour:           "47h",
		2 * 24 * time.Hour:       "2d",
		400 * 24 * time.Hour:     "400d",
		3 * 365 * 24 * time.Hour: "3y",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	text, wide := style{now: now}, style{wide: true, now: now}
	receiptTime := "2026-12-05T08:59:59.123456789Z" // the fixed-width form receipts record
	for _, tc := range []struct {
		s          style
		in, want   string
		ago, wantA string
	}{
		{text, receiptTime, "3h", receiptTime, "3h ago"},
		{text, "2026-12-03T12:00:00Z", "2d", "2026-12-03T12:00:00Z", "2d ago"},
		{wide, receiptTime, "2026-12-05T08:59:59Z", receiptTime, "2026-12-05T08:59:59Z"},
		{text, "", "-", "", "-"},
		{text, "yesterday", "yesterday", "yesterday", "yesterday"},
	} {
		if got := tc.s.when(tc.in); got != tc.want {
			t.Errorf("when(%q) wide=%v = %q, want %q", tc.in, tc.s.wide, got, tc.want)
		}
		if got := tc.s.ago(tc.ago); got != tc.wantA {
			t.Errorf("ago(%q) wide=%v = %q, want %q", tc.ago, tc.s.wide, got, tc.wantA)
		}
	}
}

func TestColourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	for _, tc := range []struct {
		tty     bool
		noColor string
		want    bool
	}{
		{true, "", true},
		{true, "1", false},
		{true, "false", false}, // any value but the empty one turns it off
		{false, "", false},
		{false, "1", false},
	} {
		if got := useColor(tc.tty, tc.noColor); got != tc.want {
			t.Errorf("useColor(tty %v, NO_COLOR %q) = %v, want %v", tc.tty, tc.noColor, got, tc.want)
		}
	}
	if got := (style{}).alert(textRevoked); got != textRevoked {
		t.Errorf("alert without colour = %q", got)
	}
	if got := (style{color: true}).alert(textRevoked); got != "\x1b[31;1mREVOKED\x1b[0m" {
		t.Errorf("alert with colour = %q", got)
	}
	if got := (style{color: true}).alert(textNone); got != textNone {
		t.Errorf("alert of nothing = %q", got)
	}
	// A buffer is not a terminal: the commands' tests never see colour.
	ro := &rootOptions{output: "wide"}
	if s := ro.style(&bytes.Buffer{}); s.color || !s.wide {
		t.Errorf("style of a buffer with -o wide = %+v", s)
	}
}

func TestTableAlignsVisibleText(t *testing.T) {
	s := style{color: true}
	tb := newTable("TARGET", "VERIFIED", "DRIFT")
	tb.row("golden-base", s.alert(textRevoked), "-")
	tb.row("app", "yes", s.alert(textDrift))
	var b bytes.Buffer
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	plain := ansi.ReplaceAllString(b.String(), "")
	want := "TARGET       VERIFIED  DRIFT\n" +
		"golden-base  REVOKED   -\n" +
		"app          yes       DRIFT\n"
	if plain != want {
		t.Errorf("table:\n%s\nwant:\n%s", plain, want)
	}
}

func TestCountAttestations(t *testing.T) {
	// A two-platform image as build attests it and as verify reads it
	// after two promotions: the same count.
	built := []string{attest.PredicateSPDX, attest.PredicateCycloneDX, attest.PredicateSPDX, attest.PredicateCycloneDX, attest.PredicateSLSAv1}
	read := append(append([]string{}, built...), receipt.PredicateVSA, receipt.PredicateVSA)
	if countAttestations(built) != 5 || countAttestations(read) != 5 {
		t.Errorf("counts %d and %d, want 5 and 5", countAttestations(built), countAttestations(read))
	}
	if plural(1, "attestation") != "1 attestation" || plural(3, "attestation") != "3 attestations" {
		t.Error("plural")
	}
}

// TestStatusTable is the bundled example's status in a terminal: short
// digests, ages, one vocabulary, no blank KIND, the test evidence's one
// summary in TESTS ("-" for a target without suites), the vulnerability
// summary in VULNS, within 132 columns (a wide terminal);
// and with -o wide, every value in full.
func TestStatusTable(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	at := "2026-12-05T09:00:00.000000000Z"
	amis := map[string]string{"us-east-1": "ami-0123456789abcdef0"}
	var st []promote.Status
	for _, target := range []string{"golden-base", "app", "config-bundle", "golden-ami"} {
		kind := "container"
		if target == "golden-ami" {
			kind = "machine-image"
		}
		for _, env := range []string{"dev", "staging", "prod"} {
			s := promote.Status{Target: target, Kind: kind, Environment: env, Digest: fullDigest, Time: at,
				Action: "promote", Signer: "0e6400565c7c5691", Verified: true, Receipt: true}
			if kind == "machine-image" {
				s.AMIs = amis
			} else {
				s.Suites = []string{"structure"}
				s.Tests = []promote.TestEvidence{
					{Suite: "structure", Platform: "linux/amd64", Result: "PASSED", Finished: at},
					{Suite: "structure", Platform: "linux/arm64", Result: "PASSED", Finished: at}}
			}
			st = append(st, s)
		}
	}
	st[0].Revoked, st[0].Verified = &revoke.Entry{Digest: fullDigest, Reason: "CVE", Cause: fullDigest}, false
	st[1].Drift, st[1].Receipt = true, false
	st[2] = promote.Status{Target: "golden-base", Environment: "prod"}
	st[3] = promote.Status{Target: "app", Environment: "dev", Unreachable: "connection refused"}
	st[4].Tests = append(st[4].Tests, promote.TestEvidence{Suite: "structure", Platform: "linux/arm64", Environment: "staging",
		Result: "FAILED", Finished: at, Failed: []string{"the app runs"}})
	st[6].Suites = append(st[6].Suites, "smoke")
	st[8].Tests = nil
	st = append(st, promote.Status{Target: "never-built", Environment: "dev"})

	rows := make([]statusJSON, len(st))
	for i := range st {
		rows[i].Status = st[i]
		if st[i].Digest != "" && st[i].Unreachable == "" {
			rows[i].Vulnerabilities = &pipeline.VulnSummary{Summary: "unscanned", Counts: map[string]int{}}
		}
	}
	rows[5].Vulnerabilities = &pipeline.VulnSummary{Summary: "1 high, 2 low", Counts: map[string]int{"high": 1, "low": 2}}
	rows[7].Vulnerabilities = &pipeline.VulnSummary{Summary: "none", Counts: map[string]int{}}
	var text, wide bytes.Buffer
	if err := printStatus(&text, style{now: now}, rows); err != nil {
		t.Fatal(err)
	}
	if err := printStatus(&wide, style{wide: true, now: now}, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n")
	if len(lines) != 14 {
		t.Fatalf("%d lines, want a header and 13 rows:\n%s", len(lines), text.String())
	}
	cells := func(l string) []string { return columns(lines[0], l) }
	for _, l := range lines {
		if len(l) > 132 {
			t.Errorf("%d columns, over 132: %q", len(l), l)
		}
		if f := cells(l); len(f) != 11 || slices.Contains(f, "") {
			t.Errorf("%d cells, want 11, none blank: %q", len(f), l)
		}
		if strings.Contains(l, "true") || strings.Contains(l, "false") || strings.Contains(l, fullDigest) {
			t.Errorf("a bool or a full digest in text: %q", l)
		}
	}
	for i, want := range map[int][]string{
		1:  {"golden-base", "container", "dev", "sha256:0e6400565c7c", "3h", "promote", "REVOKED", "yes", "2/2 passed", "unscanned", "-"},
		2:  {"golden-base", "container", "staging", "sha256:0e6400565c7c", "3h", "promote", "yes", "no", "2/2 passed", "unscanned", "DRIFT"},
		3:  {"golden-base", "container", "prod", "-", "-", "-", "-", "-", "-", "-", "-"},
		4:  {"app", "container", "dev", "UNREACHABLE", "-", "-", "-", "-", "-", "-", "-"},
		5:  {"app", "container", "staging", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "1 FAILED", "unscanned", "-"},
		6:  {"app", "container", "prod", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "2/2 passed", "1 high, 2 low", "-"},
		7:  {"config-bundle", "container", "dev", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "2/3 passed", "unscanned", "-"},
		8:  {"config-bundle", "container", "staging", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "2/2 passed", "none", "-"},
		9:  {"config-bundle", "container", "prod", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "untested", "unscanned", "-"},
		10: {"golden-ami", "machine-image", "dev", "sha256:0e6400565c7c", "3h", "promote", "yes", "yes", "-", "unscanned", "-"},
		13: {"never-built", "-", "dev", "-", "-", "-", "-", "-", "-", "-", "-"},
	} {
		if got := cells(lines[i]); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	for _, want := range []string{fullDigest, "2026-12-05T09:00:00Z", "REVOKED via " + fullDigest, "us-east-1=ami-0123456789abcdef0", "0e6400565c7c5691", "SIGNER"} {
		if !strings.Contains(wide.String(), want) {
			t.Errorf("-o wide lacks %q:\n%s", want, wide.String())
		}
	}
}

// columns splits a table's line into its cells where header's columns
// start (a cell may hold spaces: "2/2 passed").
func columns(header, line string) []string {
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	var out []string
	for k, at := range starts {
		end := len(line)
		if k+1 < len(starts) && starts[k+1] < end {
			end = starts[k+1]
		}
		if at >= len(line) {
			out = append(out, "")
			continue
		}
		out = append(out, strings.TrimSpace(line[at:end]))
	}
	return out
}

// TestVerifyNamesReceiptsAndPlatforms: a two-platform image promoted to
// staging lists each SBOM once per platform with the platform, the
// provenance, the test results that count (the newest per suite, platform
// and environment, failed tests named; not a superseded one, nor one of
// another target or about another platform's image), each receipt by
// environment and action, and counts them in the one sense build and
// promote use.
func TestVerifyNamesReceiptsAndPlatforms(t *testing.T) {
	now := time.Now()
	amd, arm := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	repo := "127.0.0.1:5000/dev/config-bundle"
	vsa := func(env, action string, ago time.Duration) json.RawMessage {
		b, err := json.Marshal(receipt.VSA{TimeVerified: now.Add(-ago), Bakery: receipt.Metadata{Environment: env, Action: action, Target: "config-bundle"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signedAt := now.Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	att := func(pt string, subject string, pred json.RawMessage) attest.AttestationInfo {
		return attest.AttestationInfo{PredicateType: pt, KeyID: "0e6400565c7c5691", Subjects: []string{subject}, SignedAt: signedAt, Predicate: pred}
	}
	test := func(target, platform, subject, env string, ago time.Duration, failed ...string) attest.AttestationInfo {
		r := imagetest.Result{Result: imagetest.Passed, Configuration: []imagetest.ResourceDescriptor{{Name: "s.yaml"}},
			PassedTests: []string{"ok"}, FailedTests: failed,
			Bakery: imagetest.Details{Suite: "structure", Target: target, Platform: platform, Environment: env, Finished: now.Add(-ago)}}
		if len(failed) > 0 {
			r.Result = imagetest.Failed
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		a := att(imagetest.PredicateType, repo+"@"+fullDigest, b)
		if subject != "" {
			a.Subjects = append(a.Subjects, repo+"@"+subject)
		}
		return a
	}
	rep := &attest.Report{
		Reference:  repo + "@" + fullDigest,
		Signatures: []attest.SignatureInfo{{KeyID: "0e6400565c7c5691", SignedAt: signedAt}},
		Platforms:  []attest.PlatformImage{{Platform: "linux/amd64", Digest: amd}, {Platform: "linux/arm64", Digest: arm}},
		Attestations: []attest.AttestationInfo{
			att(receipt.PredicateVSA, repo+"@"+fullDigest, vsa("staging", "promote", 2*time.Hour)),
			att(attest.PredicateSPDX, repo+"@"+arm, nil), att(attest.PredicateCycloneDX, repo+"@"+arm, nil),
			att(attest.PredicateSPDX, repo+"@"+amd, nil), att(attest.PredicateCycloneDX, repo+"@"+amd, nil),
			att(attest.PredicateSLSAv1, repo+"@"+fullDigest, nil),
			att(receipt.PredicateVSA, repo+"@"+fullDigest, vsa("dev", "build", 3*time.Hour)),
			test("config-bundle", "linux/amd64", amd, "", 3*time.Hour),
			test("config-bundle", "linux/arm64", arm, "", 3*time.Hour),
			test("config-bundle", "linux/arm64", arm, "staging", 90*time.Minute),
			test("config-bundle", "linux/arm64", arm, "staging", time.Hour, "the app runs"), // withdraws the PASSED above
			test("web", "linux/amd64", amd, "", time.Minute, "not this target's"),
			test("config-bundle", "linux/amd64", arm, "", time.Minute, "about arm64's image"),
		},
	}
	o := &verifyOptions{rootOptions: &rootOptions{output: "text"}}
	var b bytes.Buffer
	if err := o.printReport(&b, rep, promote.Verdict{Verified: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"Verified " + repo + "@sha256:0e6400565c7c",
		"signature key 0e6400565c7c5691 3h ago",
		"sbom cyclonedx linux/amd64 key 0e6400565c7c5691 3h ago",
		"sbom spdxjson linux/amd64 key 0e6400565c7c5691 3h ago",
		"sbom cyclonedx linux/arm64 key 0e6400565c7c5691 3h ago",
		"sbom spdxjson linux/arm64 key 0e6400565c7c5691 3h ago",
		"provenance slsa v1 key 0e6400565c7c5691 3h ago",
		"test structure linux/amd64 PASSED key 0e6400565c7c5691 3h ago",
		"test structure linux/arm64 PASSED key 0e6400565c7c5691 3h ago",
		"test structure linux/arm64 in staging FAILED (failed: the app runs) key 0e6400565c7c5691 60m ago",
		"receipt dev build key 0e6400565c7c5691 3h ago",
		"receipt staging promote key 0e6400565c7c5691 2h ago",
		"5 attestations, 2 receipts, 1 signature, 3 test results",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("verify printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(b.String(), "https://") {
		t.Errorf("a predicate URI in text:\n%s", b.String())
	}
	// In JSON, the same evidence under "tests".
	o.output = "json"
	b.Reset()
	if err := o.printReport(&b, rep, promote.Verdict{Verified: true}); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Target string                 `json:"target"`
		Tests  []promote.TestEvidence `json:"tests"`
	}
	if err := json.Unmarshal(b.Bytes(), &j); err != nil || j.Target != "config-bundle" || len(j.Tests) != 3 ||
		j.Tests[2].Environment != "staging" || j.Tests[2].Result != "FAILED" || strings.Join(j.Tests[2].Failed, ",") != "the app runs" {
		t.Errorf("verify -o json: target %q, tests %+v (%v)", j.Target, j.Tests, err)
	}
}

// TestHistoryTable: in text, ages, short digests, who without the CI run's
// URL, --force without the replaced digest, REVOKED, the reason last; -o
// wide has all of it in full.
func TestHistoryTable(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	run := "alice (https://github.com/o/r/actions/runs/7)"
	entries := []historyEntry{
		{Entry: promote.Entry{Target: "app", Receipt: policies.Receipt{Environment: "prod", Digest: fullDigest, Time: "2026-12-03T12:00:00.000000000Z",
			Action: "promote", Actor: run, KeyID: "0e6400565c7c5691", Result: "PASSED", Replaced: fullDigest, Reason: "INC-7: 500s"},
			Tests: []promote.TestEvidence{{Suite: "structure", Platform: "linux/amd64", Result: "PASSED"}, {Suite: "smoke", Environment: "staging", Result: "PASSED"}}},
			Revoked: &revoke.Entry{Reason: "CVE-2024-3094"}, suites: []string{"structure", "smoke"}},
		{Entry: promote.Entry{Target: "app", Receipt: policies.Receipt{Environment: "staging"}}, Unreachable: "connection refused"},
	}
	var text, wide bytes.Buffer
	if err := printHistoryTable(&text, style{now: now}, entries); err != nil {
		t.Fatal(err)
	}
	if err := printHistoryTable(&wide, style{wide: true, now: now}, entries); err != nil {
		t.Fatal(err)
	}
	want := "AGE  ENVIRONMENT  ACTION           DIGEST               BY     TESTS       REVOKED  REASON\n" +
		"2d   prod         promote --force  sha256:0e6400565c7c  alice  2/2 passed  REVOKED  INC-7: 500s\n" +
		"-    staging      UNREACHABLE      -                    -      -           -        -\n"
	if text.String() != want {
		t.Errorf("history:\n%s\nwant:\n%s", text.String(), want)
	}
	for _, s := range []string{"2026-12-03T12:00:00Z", "promote --force, replaced " + fullDigest, run, "0e6400565c7c5691", "PASSED", "REVOKED: CVE-2024-3094"} {
		if !strings.Contains(wide.String(), s) {
			t.Errorf("history -o wide lacks %q:\n%s", s, wide.String())
		}
	}
}

// TestDriftTable: the fix a person copies carries the short digest in
// text (rollback takes a unique prefix) and the full one with -o wide; the
// detail is in -o wide only.
func TestDriftTable(t *testing.T) {
	f := []promote.Finding{{Target: "app", Environment: "staging", Digest: fullDigest, What: "tag-moved",
		Detail: "the tag was moved by hand", Fix: "bakery rollback app --env staging --digest " + fullDigest}}
	var text, wide bytes.Buffer
	if err := printDrift(&text, style{}, f); err != nil {
		t.Fatal(err)
	}
	if err := printDrift(&wide, style{wide: true}, f); err != nil {
		t.Fatal(err)
	}
	want := "TARGET  ENVIRONMENT  DIGEST               WHAT       FIX\n" +
		"app     staging      sha256:0e6400565c7c  tag-moved  bakery rollback app --env staging --digest sha256:0e6400565c7c\n"
	if text.String() != want {
		t.Errorf("drift:\n%s\nwant:\n%s", text.String(), want)
	}
	if !strings.Contains(wide.String(), "the tag was moved by hand") || strings.Count(wide.String(), fullDigest) != 2 {
		t.Errorf("drift -o wide:\n%s", wide.String())
	}
}

// TestInspectTestsSection: inspect's Tests section sums the evidence up as
// status does, over the target's suites when there is a bakery.yaml, and
// lists each result that counts with where it ran, when, and the tests
// that failed; a result of another target is not there.
func TestInspectTestsSection(t *testing.T) {
	now := time.Now()
	repo := "127.0.0.1:5000/staging/app"
	result := func(target, suite, env string, ago time.Duration, failed ...string) attest.AttestationInfo {
		r := imagetest.Result{Result: imagetest.Passed, Configuration: []imagetest.ResourceDescriptor{{Name: "s"}}, FailedTests: failed,
			Bakery: imagetest.Details{Suite: suite, Target: target, Environment: env, Finished: now.Add(-ago)}}
		if len(failed) > 0 {
			r.Result = imagetest.Failed
		}
		b, _ := json.Marshal(r)
		return attest.AttestationInfo{PredicateType: imagetest.PredicateType, KeyID: "k", Subjects: []string{repo + "@" + fullDigest}, Predicate: b}
	}
	rep := &attest.Report{Reference: repo + "@" + fullDigest, Attestations: []attest.AttestationInfo{
		result("app", "structure", "", 3*time.Hour),
		result("app", "smoke", "staging", time.Hour, "login", "logout"),
		result("web", "smoke", "staging", time.Minute),
	}}
	o := &verifyOptions{rootOptions: &rootOptions{output: "text"},
		cfg: &config.Config{Targets: map[string]*config.Target{"app": {Name: "app", Tests: []config.Test{{Name: "structure"}, {Name: "smoke"}, {Name: "load"}}}}}}
	var b bytes.Buffer
	o.printTests(&b, rep)
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{"Tests", "app 1 FAILED", "smoke - in staging FAILED finished 60m ago", "failed: login, logout",
		"structure - at build PASSED finished 3h ago"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inspect's Tests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b.Reset()
	o.printTests(&b, &attest.Report{Reference: repo + "@" + fullDigest})
	if !strings.Contains(b.String(), "untested") {
		t.Errorf("a digest with none of app's suites:\n%s", b.String())
	}
}
