package promote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// debianSBOM replaces ref's SPDX SBOMs with ones listing a Debian 12
// libc6, signed by the fixture's trusted key as bakery build would.
func (f *fixture) debianSBOM(t *testing.T, ref name.Digest) {
	t.Helper()
	if _, err := attesttest.DropAttestations(f.ctx, ref, func(pt string, _ []string) bool { return pt == attest.PredicateSPDX }); err != nil {
		t.Fatal(err)
	}
	plats, err := attest.Platforms(f.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "app", "documentNamespace": "https://bakery.invalid/app",
		"creationInfo": map[string]any{"created": "2026-01-01T00:00:00Z", "creators": []string{"Tool: syft"}},
		"packages": []map[string]any{{"name": "libc6", "SPDXID": "SPDXRef-Package-deb-libc6", "versionInfo": "2.36-9+deb12u7", "downloadLocation": "NOASSERTION",
			"externalRefs": []map[string]any{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/libc6@2.36-9+deb12u7?arch=amd64&distro=debian-12"}}}},
	})
	var stmts []attest.Statement
	for _, p := range plats {
		stmts = append(stmts, attest.Statement{PredicateType: attest.PredicateSPDX, Subjects: []attest.Subject{attest.SubjectOf(ref), attest.SubjectOf(p.Ref)}, Predicate: doc, Platform: p.Platform})
	}
	if err := attest.Attach(f.ctx, f.signer, ref, stmts); err != nil {
		t.Fatal(err)
	}
}

// vulnFixture is a fixture whose staging denies high findings, with a
// database that has one for the digest's libc6.
func vulnFixture(t *testing.T) (*fixture, name.Digest) {
	t.Helper()
	f := newFixture(t)
	d := f.buildIntoDev(t)
	f.debianSBOM(t, d)
	db, err := vulntest.Write(t.TempDir(), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Vulnerabilities.DB = db
	staging := &f.cfg.Environments[1]
	staging.Policies = append(staging.Policies, VulnerabilitiesPolicy)
	staging.Vulnerabilities = &config.VulnPolicy{DenySeverity: "high"}
	return f, d
}

// scansOf counts the verified scans attached to d.
func (f *fixture) scansOf(t *testing.T, d name.Digest) int {
	t.Helper()
	return len(f.scanLayers(t, d))
}

// scanLayers are the layers of the verified scans attached to d.
func (f *fixture) scanLayers(t *testing.T, d name.Digest) map[string]bool {
	t.Helper()
	atts, _, err := f.promoter.opts.Verifier.Attestations(f.ctx, d, []string{vuln.PredicateType})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range atts {
		out[a.Layer.String()] = true
	}
	return out
}

// TestPromoteScansAndDeniesAKnownVulnerability: promote scans a digest
// that has no scan, records the signed scan per platform, and denies the
// finding by id; nothing moves.
func TestPromoteScansAndDeniesAKnownVulnerability(t *testing.T) {
	f, d := vulnFixture(t)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err == nil || res.Decision == nil || res.Decision.Allowed || res.Receipt {
		t.Fatalf("promote: %+v %v, want denied", res, err)
	}
	if msg := fmt.Sprint(res.Decision.Violations); !strings.Contains(msg, "CVE-2099-0001 (high, libc6 2.36-9+deb12u7, fixed in 2.36-9+deb12u99) on linux/amd64") {
		t.Errorf("violations %s, want the advisory named per platform", msg)
	}
	if n := f.scansOf(t, d); n != 2 {
		t.Errorf("%d scans recorded, want one per platform", n)
	}
	if _, ok := f.stagingTag(t); ok {
		t.Error("staging was tagged")
	}
	// A second promotion within max_age does not scan again.
	if _, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil {
		t.Fatal("allowed")
	}
	if n := f.scansOf(t, d); n != 2 {
		t.Errorf("%d scans after a second promotion, want 2 (the scan is fresh)", n)
	}
	// A scan older than max_age is made again, in place of the old one.
	old := f.scanLayers(t, d)
	f.cfg.Environments[1].Vulnerabilities.MaxAge = "1ms"
	time.Sleep(5 * time.Millisecond)
	if _, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil {
		t.Fatal("allowed")
	}
	now := f.scanLayers(t, d)
	for l := range now {
		if old[l] {
			t.Errorf("scan %s is still there after max_age passed: not scanned again, or not replaced", l)
		}
	}
	if len(now) != 2 {
		t.Errorf("%d scans after max_age passed, want 2 (scanned again, replacing the older ones)", len(now))
	}
}

// TestWaiverHoldsUntilItsDate: a waiver lets the finding through until its
// day ends, and the receipt names it; an expired one does not.
func TestWaiverHoldsUntilItsDate(t *testing.T) {
	f, _ := vulnFixture(t)
	yesterday, tomorrow := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	f.cfg.Vulnerabilities.Waivers = []config.Waiver{{ID: "CVE-2099-0001", Target: "app", Until: yesterday, Reason: "r", ApprovedBy: "sec"}}
	if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil || res.Decision.Allowed {
		t.Fatalf("expired waiver: %+v %v, want denied", res, err)
	}
	f.cfg.Vulnerabilities.Waivers[0].Target = "other"
	f.cfg.Vulnerabilities.Waivers[0].Until = tomorrow
	f.promoter = New(f.promoter.opts) // bakery.yaml is read once per command
	if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil || res.Decision.Allowed {
		t.Fatalf("another target's waiver: %+v %v, want denied", res, err)
	}
	f.cfg.Vulnerabilities.Waivers[0].Target = "app"
	f.promoter = New(f.promoter.opts)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || !res.Decision.Allowed {
		t.Fatalf("waiver until tomorrow: %+v %v, want allowed", res, err)
	}
	v := f.receiptVulns(t, res)
	if v == nil || len(v.Suppressed) != 1 || !strings.Contains(v.Suppressed[0], "CVE-2099-0001 in libc6: waived until "+tomorrow+" by sec (r)") || len(v.Counted) != 0 {
		t.Errorf("receipt records %+v, want the waived finding", v)
	}
}

// receiptVulns is the vulnerabilities record of res's receipt.
func (f *fixture) receiptVulns(t *testing.T, res *Result) *receipt.Vulnerabilities {
	t.Helper()
	dst, err := name.NewDigest(res.Destination, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.promoter.opts.Verifier.Verify(f.ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	steps := receipt.Steps(rep, receipt.Bind(f.cfg, "app"))
	if len(steps) == 0 {
		t.Fatal("no receipt")
	}
	return steps[len(steps)-1].Bakery.Vulnerabilities
}

// TestSignedVEXSuppresses: a VEX file signed by a trusted key suppresses
// the finding it marks not_affected for the digest; unsigned, signed by
// another key, or about another digest, it does not.
func TestSignedVEXSuppresses(t *testing.T) {
	f, d := vulnFixture(t)
	dir := t.TempDir()
	doc := func(product string) []byte {
		b, _ := json.Marshal(map[string]any{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://bakery.invalid/vex/1", "author": "sec",
			"timestamp": "2026-01-01T00:00:00Z", "version": 1,
			"statements": []map[string]any{{"vulnerability": map[string]any{"name": "CVE-2099-0001"}, "products": []map[string]any{{"@id": product}},
				"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}}})
		return b
	}
	hex := strings.TrimPrefix(d.DigestStr(), "sha256:")
	write := func(name string, b []byte, signer interface {
		SignMessage(r io.Reader, opts ...signature.SignOption) ([]byte, error)
	}) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if signer != nil {
			sig, err := signer.SignMessage(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".sig", []byte(base64.StdEncoding.EncodeToString(sig)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	other, _, err := attest.GenerateKeys(filepath.Join(dir, "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := attest.LoadSigner(f.ctx, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := doc("pkg:oci/app@sha256%3A" + hex)
	for _, tc := range []struct {
		name string
		file string
	}{
		{"unsigned", write("unsigned.json", good, nil)},
		{"untrusted key", write("untrusted.json", good, untrusted)},
		{"another digest", write("other.json", doc("pkg:oci/app@sha256%3A"+strings.Repeat("0", 64)), f.signer)},
	} {
		f.cfg.Vulnerabilities.VEX = []string{tc.file}
		f.promoter = New(f.promoter.opts)
		if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil || res.Decision.Allowed {
			t.Errorf("%s VEX: %+v %v, want denied", tc.name, res, err)
		}
	}
	f.cfg.Vulnerabilities.VEX = []string{write("good.json", good, f.signer)}
	f.promoter = New(f.promoter.opts)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || !res.Decision.Allowed {
		t.Fatalf("signed VEX: %+v %v, want allowed", res, err)
	}
	if v := f.receiptVulns(t, res); v == nil || len(v.Suppressed) != 1 || !strings.Contains(v.Suppressed[0], "VEX not_affected (vulnerable_code_not_in_execute_path)") {
		t.Errorf("receipt records %+v, want the VEX suppression", v)
	}
}

// TestOlderDatabaseScanDoesNotCount: a clean scan made with an older
// database (replayed, signed by the trusted key) counts for nothing once a
// newer database is loaded; a preview (no rescan) denies it by name.
func TestOlderDatabaseScanDoesNotCount(t *testing.T) {
	f, d := vulnFixture(t)
	old, err := vulntest.Write(t.TempDir(), time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	odb, err := vuln.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	rep, err := f.promoter.opts.Verifier.Verify(f.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	scans, err := odb.ScanReport(f.ctx, rep, "app", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := vuln.Record(f.ctx, f.signer, f.promoter.opts.Verifier.Keys(), d, scans); err != nil {
		t.Fatal(err)
	}
	_, dec, err := f.promoter.Decide(f.ctx, d, "app", "dev", &f.cfg.Environments[1])
	if err != nil || dec.Allowed || !strings.Contains(fmt.Sprint(dec.Violations), "older than the one loaded") {
		t.Errorf("decide on an older database's clean scan: %+v %v, want denied naming the database", dec, err)
	}
	if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil || !strings.Contains(fmt.Sprint(res.Decision.Violations), "CVE-2099-0001") {
		t.Errorf("promote: %+v %v, want a new scan that denies CVE-2099-0001", res, err)
	}
	// A database older than max_db_age is no basis for a decision.
	f.cfg.Vulnerabilities.MaxDBAge = "30m"
	if _, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err == nil || !strings.Contains(err.Error(), "max_db_age") {
		t.Errorf("stale database: %v, want a config error naming max_db_age", err)
	}
}
