//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// vulnDB writes a grype database, built at built, with grype's own writer.
func vulnDB(t *testing.T, dir string, built time.Time, advisories ...vulntest.Advisory) string {
	t.Helper()
	path, err := vulntest.Write(dir, built, advisories...)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVulnerabilityGate: prod denies a known vulnerability of the Debian
// base that the loaded database names, on the real registry; the scan that
// promote records is a signed attestation the stock cosign accepts as
// --type vuln; clean scans forged with the stock cosign (an untrusted key,
// another platform, an older database replayed) change nothing; a VEX
// statement signed with the stock cosign sign-blob lets it through, named
// in the receipt; a truncated database is one line, exit 2, naming it.
func TestVulnerabilityGate(t *testing.T) {
	ns := runID + "/vulns"
	dbDir := t.TempDir()
	db := vulnDB(t, dbDir, time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-1001", Namespace: "debian:12", Package: "libc6", Severity: "Critical"},                    // every version: no fix yet
		vulntest.Advisory{ID: "CVE-2099-1002", Namespace: "debian:12", Package: "base-files", Fixed: "0.1", Severity: "Critical"}, // fixed long ago
	)
	cfg := promoteProject(t, ns, fmt.Sprintf("vulnerabilities:\n  db: %s\n", db))
	edited := strings.Replace(readFile(t, cfg), "    policies: [signed, sbom, provenance, promoted_through, license_denylist, package_denylist]\n",
		"    policies: [signed, sbom, provenance, promoted_through, vulnerabilities]\n    vulnerabilities: {deny_severity: high}\n", 1)
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": edited})
	d := buildDigest(t, cfg)
	if _, r := promoteJSON(t, cfg, "--to", "staging"); r.code != 0 {
		t.Fatalf("promote to staging (no vulnerabilities policy): exit %d\n%s", r.code, r.stderr)
	}
	staging := regAddr + "/" + ns + "/staging/golden@" + d
	_, r := promoteJSON(t, cfg, "--to", "prod")
	if r.code != 5 || !strings.Contains(r.stderr, "CVE-2099-1001 (critical, libc6") || strings.Contains(r.stderr, "CVE-2099-1002") {
		t.Fatalf("promote to prod: exit %d, want 5 naming CVE-2099-1001 and not the fixed CVE-2099-1002\n%s", r.code, r.stderr)
	}
	if code := headStatus(t, registry2, ns+"/prod/golden", d); code != 404 {
		t.Errorf("the denied digest is in prod (HEAD %d)", code)
	}
	pub := filepath.Join(keyDir, "trusted.pub")
	if o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "vuln", staging); code != 0 || !strings.Contains(payloads(t, o), `"id":"CVE-2099-1001"`) {
		t.Errorf("stock cosign verify-attestation --type vuln: exit %d\n%s", code, o)
	}

	// Clean scans forged with the stock cosign, each of which must count
	// for nothing.
	forge := func(key, password, platform string, dbBuilt time.Time) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"scan.json": fmt.Sprintf(`{"invocation":{"parameters":[],"uri":"","event_id":"","builder.id":""},
"scanner":{"uri":"pkg:golang/github.com/anchore/grype","version":"v0.121.3","db":{"uri":"grype:db/v6.1.10","version":%q},
"result":{"findings":[],"bakery":{"target":"golden","platform":%q,"sbom":"sha256:00","packages":1,"dbBuilt":%q,"dbSchema":"v6.1.10"}}},
"metadata":{"scanStartedOn":%q,"scanFinishedOn":%q}}`, dbBuilt.Format(time.RFC3339), platform, dbBuilt.Format(time.RFC3339),
			time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))})
		run(t, []string{"COSIGN_PASSWORD=" + password}, cosign, "attest", "--key", filepath.Join(keyDir, key), "--type", "vuln",
			"--predicate", filepath.Join(dir, "scan.json"), "--tlog-upload=false", "--yes", staging)
	}
	forge("other.key", "", "", time.Now().Add(time.Hour))                           // an untrusted key, a newer database
	forge("trusted.key", signingPassword, "linux/s390x", time.Now().Add(time.Hour)) // a platform the image does not have
	forge("trusted.key", signingPassword, "", time.Now().Add(-48*time.Hour))        // an older database, replayed
	if _, r := promoteJSON(t, cfg, "--to", "prod"); r.code != 5 || !strings.Contains(r.stderr, "CVE-2099-1001") {
		t.Errorf("promote to prod on forged clean scans: exit %d, want 5 naming CVE-2099-1001\n%s", r.code, r.stderr)
	}

	// A VEX statement that the trusted key signed with the stock cosign.
	hex := strings.TrimPrefix(d, "sha256:")
	vexDir := filepath.Dir(cfg)
	writeFiles(t, vexDir, map[string]string{"vex.json": fmt.Sprintf(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://bakery.invalid/vex/e2e","author":"security",
"timestamp":"2026-01-01T00:00:00Z","version":1,"statements":[{"vulnerability":{"name":"CVE-2099-1001"},
"products":[{"@id":"pkg:oci/golden@sha256%%3A%s"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`, hex)})
	withVEX := strings.Replace(readFile(t, cfg), "vulnerabilities:\n  db: ", "vulnerabilities:\n  vex: [vex.json]\n  db: ", 1)
	writeFiles(t, vexDir, map[string]string{"bakery.yaml": withVEX})
	if _, r := promoteJSON(t, cfg, "--to", "prod"); r.code != 5 {
		t.Errorf("promote to prod with an unsigned VEX file: exit %d, want 5\n%s", r.code, r.stderr)
	}
	run(t, []string{"COSIGN_PASSWORD=" + signingPassword}, cosign, "sign-blob", "--key", filepath.Join(keyDir, "trusted.key"),
		"--tlog-upload=false", "--yes", "--output-signature", filepath.Join(vexDir, "vex.json.sig"), filepath.Join(vexDir, "vex.json"))
	out, r := promoteJSON(t, cfg, "--to", "prod")
	if r.code != 0 {
		t.Fatalf("promote to prod with a signed VEX: exit %d, %v\n%s", r.code, out, r.stderr)
	}
	prod := registry2 + "/" + ns + "/prod/golden@" + d
	o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "https://slsa.dev/verification_summary/v1", prod)
	if code != 0 || !strings.Contains(payloads(t, o), "CVE-2099-1001 in libc6: VEX not_affected (vulnerable_code_not_in_execute_path)") {
		t.Errorf("the prod receipt: exit %d\n%s", code, o)
	}

	// A newer database adds an advisory for what prod runs now: rescan
	// --check names it and exits 4, and find answers where it runs.
	newer := vulnDB(t, t.TempDir(), time.Now(),
		vulntest.Advisory{ID: "CVE-2099-1001", Namespace: "debian:12", Package: "libc6", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-1003", Namespace: "debian:12", Package: "bash", Severity: "High"})
	withNewer := []string{"BAKERY_VULNERABILITIES_DB=" + newer}
	var rescan struct {
		NewlyFailing []struct{ ID, Target, Environment string }
	}
	r = bakery(t, withNewer, "rescan", "golden", "--env", "prod", "--config", cfg, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rescan); r.code != 0 || err != nil || len(rescan.NewlyFailing) != 1 ||
		rescan.NewlyFailing[0].ID != "CVE-2099-1003" || rescan.NewlyFailing[0].Target != "golden" || rescan.NewlyFailing[0].Environment != "prod" {
		t.Errorf("rescan of prod: exit %d, %+v (%v); want 0 and CVE-2099-1003 newly failing for golden in prod (CVE-2099-1001 is VEX'd)\n%s", r.code, rescan, err, r.stderr)
	}
	if r := bakery(t, withNewer, "rescan", "golden", "--env", "prod", "--check", "--config", cfg); r.code != 4 || !strings.Contains(r.stdout+r.stderr, "CVE-2099-1003") {
		t.Errorf("rescan --check after a newer database: exit %d, want 4 naming CVE-2099-1003\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = bakery(t, withNewer, "find", "CVE-2099-1003", "--config", cfg, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"prod"`) || !strings.Contains(r.stdout, d) {
		t.Errorf("find CVE-2099-1003: exit %d, want prod's digest %s\n%s\n%s", r.code, d, r.stdout, r.stderr)
	}
	if r := bakery(t, withNewer, "status", "golden", "--config", cfg); !strings.Contains(r.stdout, "1 high") {
		t.Errorf("status after the rescan: want the VULNS column to count 1 high\n%s", r.stdout)
	}

	// A truncated database: one line, exit 2, naming the file.
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := bakery(t, nil, "promote", "golden", "--to", "prod", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, db) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("promote on a truncated database: exit %d, want 2 naming %s in one line\n%s", r.code, db, r.stderr)
	}
}

// payloads are the decoded in-toto statements of the DSSE envelopes that
// cosign verify-attestation prints, one per line.
func payloads(t *testing.T, out string) string {
	t.Helper()
	var all []string
	for _, line := range strings.Split(out, "\n") {
		var env struct{ Payload string }
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &env) != nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, string(b))
	}
	return strings.Join(all, "\n")
}
