//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every way into an environment passes that environment's gate (issue 20):
// import decides as promote would at the site, and revocation holds for
// everything built on a revoked image, whenever it was built. The attacker
// has push rights to dev and staging, the stock crane CLI and a Dockerfile
// of their own; each case checks the exit code and what the destination
// registry holds afterwards.

// gateSite is an air-gapped site with staging and prod on the second
// registry; prod follows staging (promoted_through) and denies apt.
func gateSite(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  app:
    type: container
    context: app
  golden:
    type: container
    context: golden
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
  package_denylist: [apt]
environments:
  - name: dev
    repository: %[1]s/%[2]s/site-dev
    insecure: true
  - name: staging
    repository: %[1]s/%[2]s/site-staging
    insecure: true
    policies: [signed, sbom, provenance]
  - name: prod
    repository: %[1]s/%[2]s/site-prod
    insecure: true
    policies: [signed, sbom, provenance, promoted_through, package_denylist]
`, registry2, ns)})
	return filepath.Join(dir, "bakery.yaml")
}

// exportFrom exports target from env of cfg to a bundle file.
func exportFrom(t *testing.T, cfg, target, env string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), target+"-"+env+".tar")
	if r := bakery(t, nil, "export", target, "--env", env, "--out", out, "--config", cfg); r.code != 0 {
		t.Fatalf("export %s from %s: exit %d", target, env, r.code)
	}
	return out
}

// siteHolds is the status of ENV's tag for target at the site (404: nothing).
func siteHolds(t *testing.T, ns, env, target string) int {
	t.Helper()
	return headStatus(t, registry2, ns+"/site-"+env+"/"+target, env)
}

// TestImportPassesTheSitesGate: a bundle that skips the site's staging, a
// bundle carrying a package on the site prod's denylist, and a bundle of a
// digest the site revoked after the bundle was written are each refused
// (exit 5), --force included, and the site's prod tag never moves; verify
// --bundle with the site's config reports the same decision offline.
func TestImportPassesTheSitesGate(t *testing.T) {
	ns := runID + "-gate-import"
	site := gateSite(t, ns)

	// 1. Exported from dev: the site's prod would skip staging.
	src := smallProject(t, t.TempDir(), ns, regAddr+"/"+ns+"/prod", "app")
	digest := rebuild(t, src, "app", "gate-1")
	devBundle := exportFrom(t, src, "app", "dev")
	r := bakery(t, nil, "import", devBundle, "--to", "prod", "--config", site)
	if r.code != 5 || !strings.Contains(r.stderr, "no receipt for staging") {
		t.Errorf("import of a dev bundle into prod: exit %d, want 5 naming staging", r.code)
	}
	if r := bakery(t, nil, "import", devBundle, "--to", "prod", "--force", "--config", site); r.code != 5 {
		t.Errorf("import --force of a dev bundle into prod: exit %d, want 5", r.code)
	}
	if code := siteHolds(t, ns, "prod", "app"); code != http.StatusNotFound {
		t.Errorf("after refused imports the site's prod tag answers %d, want 404", code)
	}
	// Offline, with the site's config: the same decision, and what it could not check.
	r = offline(t, "verify", "--bundle", devBundle, "--env", "prod", "--config", site, "-o", "json")
	var v struct {
		Policies  string   `json:"policies"`
		Unchecked []string `json:"unchecked"`
		Decision  struct {
			Allowed bool `json:"allowed"`
		} `json:"decision"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 5 || v.Policies != "site" || v.Decision.Allowed || len(v.Unchecked) == 0 {
		t.Errorf("verify --bundle --env prod --config site: exit %d, %+v (%v)\n%s", r.code, v, err, r.stdout)
	}
	// Through the site's own staging, the same digest may go on to prod.
	if r := bakery(t, nil, "import", devBundle, "--to", "staging", "--config", site); r.code != 0 {
		t.Fatalf("import of the dev bundle into the site's staging: exit %d", r.code)
	}
	if r := bakery(t, nil, "import", devBundle, "--to", "prod", "--config", site, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"siteReceipts"`) {
		t.Fatalf("import into prod after the site's staging holds it: exit %d\n%s", r.code, r.stdout)
	}
	if code := siteHolds(t, ns, "prod", "app"); code != http.StatusOK {
		t.Fatalf("the site's prod tag answers %d after the import, want 200", code)
	}

	// 2. Revoked at the site after the bundle was written: a new digest,
	// through staging; the site's security team revokes it; prod refuses.
	digest2 := rebuild(t, src, "app", "gate-2")
	for _, env := range []string{"staging", "prod"} {
		if r := bakery(t, nil, "promote", "app", "--to", env, "--config", src); r.code != 0 {
			t.Fatalf("promote to %s: exit %d", env, r.code)
		}
	}
	prodBundle := exportFrom(t, src, "app", "prod")
	if r := bakery(t, nil, "import", prodBundle, "--to", "staging", "--force", "--config", site); r.code != 0 {
		t.Fatalf("import into the site's staging (replacing the first digest): exit %d", r.code)
	}
	if r := bakery(t, nil, "revoke", digest2, "--reason", "CVE-2024-3094 found at the site", "--config", site); r.code != 0 {
		t.Fatalf("revoke at the site: exit %d", r.code)
	}
	for _, force := range []bool{false, true} {
		args := []string{"import", prodBundle, "--to", "prod", "--config", site}
		if force {
			args = append(args, "--force")
		}
		if r := bakery(t, nil, args...); r.code != 5 || !strings.Contains(r.stderr, "CVE-2024-3094 found at the site") {
			t.Errorf("import of a digest revoked at the site (force %v): exit %d, want 5 naming the revocation", force, r.code)
		}
	}
	if got := siteDigest(t, ns+"/site-prod/app", "prod"); got != digest {
		t.Errorf("the site's prod runs %s after the refused import, want %s", got, digest)
	}

	// 3. A package on the site prod's denylist (apt, in the Debian base).
	deb := promoteProject(t, ns+"-deb", "")
	golden := buildDigest(t, deb)
	for _, env := range []string{"staging", "prod"} {
		if _, r := promoteJSON(t, deb, "--to", env); r.code != 0 {
			t.Fatalf("promote golden to %s: exit %d", env, r.code)
		}
	}
	goldenBundle := exportFrom(t, deb, "golden", "prod")
	if r := bakery(t, nil, "import", goldenBundle, "--to", "staging", "--config", site); r.code != 0 {
		t.Fatalf("import golden into the site's staging: exit %d", r.code)
	}
	r = bakery(t, nil, "import", goldenBundle, "--to", "prod", "--config", site)
	if r.code != 5 || !strings.Contains(r.stderr, "package_denylist") || !strings.Contains(r.stderr, "apt") {
		t.Errorf("import of a digest with a package on the site's denylist: exit %d, want 5 naming apt", r.code)
	}
	if code := siteHolds(t, ns, "prod", "golden"); code != http.StatusNotFound {
		t.Errorf("the site's prod golden tag answers %d after the refused import, want 404 (%s)", code, golden)
	}
}

// siteDigest is the digest repo:tag holds on the second registry ("" when none).
func siteDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	if code, d := headManifest(t, registry2, repo, tag); code == http.StatusOK {
		return d
	}
	return ""
}

// TestRevokedBaseHoldsForLaterBuilds: the golden base is revoked without
// --cascade. An app built on it afterwards (its dev tag still points at it)
// is refused by bakery build before anything is tagged, by argument and by
// a Dockerfile of the attacker's own that pins the base by digest; built
// anyway with --allow-revoked-base, it is refused by every decision: verify
// (4), promote (5), status (REVOKED via the base), and staging never gets it.
func TestRevokedBaseHoldsForLaterBuilds(t *testing.T) {
	ns := runID + "-gate-base"
	cfg := chainProject(t, ns)
	base := buildTargets(t, cfg, nil, "base")["base"]
	baseDigest := base[strings.LastIndex(base, "@")+1:]
	if r := bakery(t, nil, "revoke", baseDigest, "--reason", "CVE-2024-3094 in the base", "--config", cfg); r.code != 0 {
		t.Fatalf("revoke the base: exit %d", r.code)
	}
	devApp := ns + "/dev/app"

	r := bakery(t, nil, "build", "app", "--config", cfg, "--progress", "quiet")
	if r.code != 4 || !strings.Contains(r.stderr, "BASE") || !strings.Contains(r.stderr, "CVE-2024-3094 in the base") {
		t.Errorf("build on a revoked base: exit %d, want 4 naming the argument and the revocation", r.code)
	}
	if code := headStatus(t, regAddr, devApp, "dev"); code != http.StatusNotFound {
		t.Errorf("dev's app tag answers %d after the refused build, want 404", code)
	}

	// The attacker's Dockerfile pins the revoked base by digest, not by argument.
	pinned := filepath.Join(filepath.Dir(cfg), "app/Dockerfile")
	writeFiles(t, filepath.Dir(cfg), map[string]string{"app/Dockerfile": "FROM " + base + "\nCOPY app.txt /etc/app\n"})
	r = bakery(t, nil, "build", "app", "--config", cfg, "--progress", "quiet")
	if r.code != 4 || !strings.Contains(r.stderr, "CVE-2024-3094 in the base") {
		t.Errorf("build FROM the revoked base by digest: exit %d, want 4", r.code)
	}
	if code := headStatus(t, regAddr, devApp, "dev"); code != http.StatusNotFound {
		t.Errorf("dev's app tag answers %d after the refused pinned build, want 404", code)
	}
	writeFiles(t, filepath.Dir(pinned), map[string]string{"Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY app.txt /etc/app\n"})

	// Built anyway, knowingly: recorded, and refused by every decision.
	refs := buildTargets(t, cfg, []string{}, "app", "--allow-revoked-base", "rebuilding for the fix")
	app := refs["app"]
	var prov struct {
		Predicate struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Override *struct{ Digest, Reason string } `json:"revokedBaseOverride"`
				} `json:"externalParameters"`
			} `json:"buildDefinition"`
		} `json:"predicate"`
	}
	o, code := stockCosign(t, "verify-attestation", "--key", filepath.Join(keyDir, "trusted.pub"), "--insecure-ignore-tlog",
		"--allow-http-registry", "--type", "slsaprovenance1", app)
	if code != 0 {
		t.Fatalf("cosign verify-attestation of the overridden build: exit %d\n%s", code, o)
	}
	if err := decodeFirstStatement(o, &prov); err != nil || prov.Predicate.BuildDefinition.ExternalParameters.Override == nil ||
		prov.Predicate.BuildDefinition.ExternalParameters.Override.Digest != baseDigest {
		t.Errorf("the provenance does not record the override of %s: %+v (%v)", baseDigest, prov, err)
	}
	if r := bakery(t, nil, "verify", app, "--config", cfg); r.code != 4 || !strings.Contains(r.stderr, "built on "+baseDigest) {
		t.Errorf("verify of the app on the revoked base: exit %d, want 4 naming the base", r.code)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 5 || !strings.Contains(r.stderr, baseDigest) {
		t.Errorf("promote of the app on the revoked base: exit %d, want 5 naming the base", r.code)
	}
	if code := headStatus(t, regAddr, ns+"/staging/app", "staging"); code != http.StatusNotFound {
		t.Errorf("staging's app tag answers %d after the refused promotion, want 404", code)
	}
	st := statusOf(t, cfg, "app", "dev")
	if rev, _ := st["revocation"].(map[string]any); rev == nil || rev["cause"] != baseDigest {
		t.Errorf("status of the app in dev: %v, want revoked with cause %s", st, baseDigest)
	}
	if r := bakery(t, nil, "status", "--config", cfg); !strings.Contains(r.stdout, "REVOKED") || strings.Contains(r.stdout, baseDigest) {
		t.Errorf("status does not show the app REVOKED with short digests:\n%s", r.stdout)
	}
	if r := bakery(t, nil, "status", "--config", cfg, "-o", "wide"); !strings.Contains(r.stdout, "REVOKED via "+baseDigest) {
		t.Errorf("status -o wide does not show the app REVOKED via its base, in full:\n%s", r.stdout)
	}
}

// decodeFirstStatement decodes the in-toto statement of the first DSSE
// envelope cosign verify-attestation printed.
func decodeFirstStatement(out string, v any) error {
	for _, line := range strings.Split(out, "\n") {
		var env struct {
			Payload []byte `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &env) == nil && len(env.Payload) > 0 {
			return json.Unmarshal(env.Payload, v)
		}
	}
	return fmt.Errorf("no DSSE envelope in cosign's output")
}

// TestHiddenDescendantIsStillRevoked: the attacker hides the app's
// attestations in dev and staging (crane tag points the .att tags at the
// image itself) while revoke --cascade runs, so the cascade does not list
// the app; then puts them back. Promoting the app to prod is still refused,
// because its provenance names the revoked base, and prod never gets it.
func TestHiddenDescendantIsStillRevoked(t *testing.T) {
	ns := runID + "-gate-hidden"
	cfg := chainProject(t, ns)
	base := buildTargets(t, cfg, nil, "base")["base"]
	app := buildTargets(t, cfg, nil, "app")["app"]
	baseDigest, appDigest := base[strings.LastIndex(base, "@")+1:], app[strings.LastIndex(app, "@")+1:]
	for _, tgt := range []string{"base", "app"} {
		if r := bakery(t, nil, "promote", tgt, "--to", "staging", "--config", cfg); r.code != 0 {
			t.Fatalf("promote %s to staging: exit %d", tgt, r.code)
		}
	}
	attTag := "sha256-" + strings.TrimPrefix(appDigest, "sha256:") + ".att"
	saved := map[string]string{}
	for _, env := range []string{"dev", "staging"} {
		repo := regAddr + "/" + ns + "/" + env + "/app"
		saved[env] = strings.TrimSpace(run(t, nil, crane, "digest", "--insecure", repo+":"+attTag))
		run(t, nil, crane, "tag", "--insecure", repo+"@"+appDigest, attTag)
	}
	r := bakery(t, nil, "revoke", baseDigest, "--reason", "CVE-2024-3094", "--cascade", "--yes", "--config", cfg, "-o", "json")
	if r.code != 0 || strings.Contains(r.stdout, appDigest) {
		t.Fatalf("revoke --cascade with the app hidden: exit %d, want 0 and the app not listed\n%s", r.code, r.stdout)
	}
	for env, d := range saved {
		run(t, nil, crane, "tag", "--insecure", regAddr+"/"+ns+"/"+env+"/app@"+d, attTag)
	}
	if r := bakery(t, nil, "verify", app, "--config", cfg); r.code != 4 || !strings.Contains(r.stderr, "built on "+baseDigest) {
		t.Errorf("verify of the app after the attestations came back: exit %d, want 4 naming the base", r.code)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 5 || !strings.Contains(r.stderr, baseDigest) {
		t.Errorf("promote of the hidden descendant: exit %d, want 5 naming the base", r.code)
	}
	if code := headStatus(t, registry2, ns+"/prod/app", "prod"); code != http.StatusNotFound {
		t.Errorf("prod's app tag answers %d after the refused promotion, want 404", code)
	}
}

// TestOneVerdictForARevokedDigest (issue 21, item 1): a revoked golden base,
// and the app built on it (revoked through its lineage), read the same in
// every command, checked field by field: verify, inspect, status and report
// all say verified false with the revocation, and exit 4 where they judge.
func TestOneVerdictForARevokedDigest(t *testing.T) {
	ns := runID + "-verdict"
	cfg := chainProject(t, ns)
	base := buildTargets(t, cfg, nil, "base")["base"]
	app := buildTargets(t, cfg, nil, "app")["app"]
	baseDigest := base[strings.LastIndex(base, "@")+1:]
	if r := bakery(t, nil, "revoke", baseDigest, "--reason", "CVE-2024-3094", "--config", cfg); r.code != 0 {
		t.Fatalf("revoke: exit %d", r.code)
	}
	type revocation struct {
		Digest, Reason, Cause, By string
	}
	type verdict struct {
		Verified   bool        `json:"verified"`
		Revocation *revocation `json:"revocation"`
	}
	for _, tc := range []struct {
		ref, cause string
	}{{base, ""}, {app, baseDigest}} {
		for _, cmd := range []string{"verify", "inspect"} {
			r := bakery(t, nil, cmd, tc.ref, "--config", cfg, "-o", "json")
			var v verdict
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 4 || v.Verified || v.Revocation == nil ||
				v.Revocation.Reason != "CVE-2024-3094" || v.Revocation.Cause != tc.cause || v.Revocation.By == "" ||
				v.Revocation.Digest != tc.ref[strings.LastIndex(tc.ref, "@")+1:] {
				t.Errorf("%s -o json of %s: exit %d, %+v (%v)\n%s", cmd, tc.ref, r.code, v, err, r.stdout)
			}
		}
		r := bakery(t, nil, "verify", tc.ref, "--config", cfg)
		if r.code != 4 || !strings.HasPrefix(r.stdout, "REVOKED ") || strings.Contains(r.stdout, "Verified") {
			t.Errorf("verify of %s: exit %d, want 4 and a first word REVOKED\n%s", tc.ref, r.code, r.stdout)
		}
	}
	for _, target := range []string{"base", "app"} {
		st := statusOf(t, cfg, target, "dev")
		rev, _ := st["revocation"].(map[string]any)
		if st["verified"] != false || rev == nil || rev["reason"] != "CVE-2024-3094" {
			t.Errorf("status -o json of %s in dev: %v, want verified false with the revocation", target, st)
		}
	}
	out := filepath.Join(t.TempDir(), "report")
	r := bakery(t, nil, "report", "--out", out, "--config", cfg, "-o", "json")
	var sum struct {
		Unverified []string `json:"unverified"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 4 || len(sum.Unverified) != 2 {
		t.Errorf("report of two revoked digests: exit %d, unverified %v (%v), want 4 and both", r.code, sum.Unverified, err)
	}
	var rep struct {
		Cells []struct {
			Target, Environment string
			Verified            bool        `json:"verified"`
			Revocation          *revocation `json:"revocation"`
		} `json:"cells"`
		Digests []struct {
			Target   string `json:"target"`
			Verified bool   `json:"verified"`
		} `json:"digests"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cells {
		if c.Environment == "dev" && (c.Verified || c.Revocation == nil) {
			t.Errorf("report.json cell %s in dev: verified %v, revocation %+v", c.Target, c.Verified, c.Revocation)
		}
	}
	for _, d := range rep.Digests {
		if d.Verified {
			t.Errorf("report.json digest page of %s: verified true for a revoked digest", d.Target)
		}
	}
	if html := readFile(t, filepath.Join(out, "index.html")); !strings.Contains(html, "failed verification") {
		t.Error("index.html does not count the revoked digests as failed verification")
	}
	// With a key and no config, stderr says no revocation list was read.
	r = bakery(t, []string{"BAKERY_VERIFICATION_KEYS="}, "verify", base, "--key", filepath.Join(keyDir, "trusted.pub"))
	if r.code != 0 || !strings.Contains(r.stderr, "no revocation list was checked") {
		t.Errorf("verify --key without a config: exit %d, want 0 and a warning on stderr\n%s", r.code, r.stderr)
	}
}

// TestUnreachableEnvironmentIsPartial (issue 21, item 4): staging's registry
// (a proxy in front of the real one) is stopped. status, history and drift
// still print dev and prod, mark staging UNREACHABLE by name, warn once on
// stderr and exit 6 at the end.
func TestUnreachableEnvironmentIsPartial(t *testing.T) {
	ns := runID + "-partial"
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: regAddr}))
	stagingHost := strings.TrimPrefix(proxy.URL, "http://")
	dir := t.TempDir()
	cfg := strings.Replace(projectTail(ns, registry2+"/"+ns+"/prod"), "repository: "+regAddr+"/"+ns+"/staging", "repository: "+stagingHost+"/"+ns+"/staging", 1)
	writeFiles(t, dir, map[string]string{
		"bakery.yaml":     "version: 1\ntargets:\n  app:\n    type: container\n    context: app\n" + cfg,
		"app/Dockerfile":  "FROM scratch\nCOPY release.txt /etc/release.txt\n",
		"app/release.txt": ns + "\n",
	})
	config := filepath.Join(dir, "bakery.yaml")
	digest := rebuild(t, config, "app", "partial-1")
	for _, env := range []string{"staging", "prod"} {
		if r := bakery(t, nil, "promote", "app", "--to", env, "--config", config); r.code != 0 {
			t.Fatalf("promote to %s: exit %d", env, r.code)
		}
	}
	proxy.Close() // staging's registry is gone: connections are refused

	r := bakery(t, nil, "status", "--config", config)
	if r.code != 6 || !strings.Contains(r.stderr, "staging ("+stagingHost) || strings.Count(r.stderr, "warning:") != 1 {
		t.Errorf("status with staging down: exit %d, want 6 and one warning naming staging", r.code)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		for _, env := range []string{"dev", "staging", "prod"} {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "app" && f[2] == env {
				rows[env] = line
			}
		}
	}
	if !strings.Contains(rows["staging"], "UNREACHABLE") || !strings.Contains(rows["dev"], digest[:19]) || !strings.Contains(rows["prod"], digest[:19]) {
		t.Errorf("status with staging down does not show dev and prod, and staging UNREACHABLE:\n%s", r.stdout)
	}
	r = bakery(t, nil, "history", "app", "--config", config)
	if r.code != 6 || !strings.Contains(r.stdout, "UNREACHABLE") || strings.Count(r.stdout, short12(digest)) < 2 {
		t.Errorf("history with staging down: exit %d, want 6 with dev's and prod's receipts\n%s", r.code, r.stdout)
	}
	if r := bakery(t, nil, "drift", "--registry-only", "--config", config); r.code != 6 {
		t.Errorf("drift with staging down: exit %d, want 6", r.code)
	}
	findAndReportWithStagingDown(t, config, stagingHost)
}

// findAndReportWithStagingDown: with staging's registry stopped, find
// searches dev and prod and names staging UNREACHABLE (text and JSON), and
// report writes dev's and prod's digest with staging UNREACHABLE (summary,
// report.json, overview); each warns once and exits 6.
func findAndReportWithStagingDown(t *testing.T, config, stagingHost string) {
	t.Helper()
	r := bakery(t, nil, "find", "no-such-package", "--config", config)
	if r.code != 6 || !strings.Contains(r.stderr, "staging ("+stagingHost) || strings.Count(r.stderr, "warning:") != 1 ||
		!strings.Contains(r.stdout, "(2 digests checked)") || !slices.Contains(strings.Fields(r.stdout), "UNREACHABLE") {
		t.Errorf("find with staging down: exit %d, want 6, dev's and prod's digests checked and staging UNREACHABLE\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = bakery(t, nil, "find", "no-such-package", "--history", "--config", config, "-o", "json")
	var found []struct{ Target, Environment, Unreachable string }
	if err := json.Unmarshal([]byte(r.stdout), &found); err != nil || r.code != 6 || len(found) != 1 ||
		found[0].Environment != "staging" || found[0].Unreachable == "" {
		t.Errorf("find --history -o json with staging down: exit %d (%v), want 6 and staging unreachable\n%s", r.code, err, r.stdout)
	}

	out := filepath.Join(t.TempDir(), "report")
	r = bakery(t, nil, "report", "--config", config, "--out", out, "-o", "json")
	var sum struct {
		Digests     int
		Unreachable []struct{ Environment, Repository string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 6 || strings.Count(r.stderr, "warning:") != 1 ||
		sum.Digests != 1 || len(sum.Unreachable) != 1 || sum.Unreachable[0].Environment != "staging" {
		t.Fatalf("report with staging down: exit %d (%v), want 6, one digest page and staging unreachable\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	var rep struct {
		Cells []struct {
			Environment, Digest, Unreachable string
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cells {
		if (c.Environment == "staging") != (c.Unreachable != "") || (c.Environment != "staging") == (c.Digest == "") {
			t.Errorf("report.json's %s cell: digest %q, unreachable %q", c.Environment, c.Digest, c.Unreachable)
		}
	}
	if index := readFile(t, filepath.Join(out, "index.html")); !strings.Contains(index, ">UNREACHABLE</span>") || !strings.Contains(index, "<li>staging (") {
		t.Error("the report's overview does not show staging UNREACHABLE")
	}
}

// TestWhoAndWhy (issue 21, item 8): receipts record the CI identity with its
// run URL (GitHub Actions, GitLab CI) or --actor, revocations too, and
// history lists every event, revocations included, with who and why.
func TestWhoAndWhy(t *testing.T) {
	ns := runID + "-who"
	cfg := smallProject(t, t.TempDir(), ns, regAddr+"/"+ns+"/prod", "app")
	gh := []string{"GITHUB_ACTOR=octocat", "GITHUB_SERVER_URL=https://git.example", "GITHUB_REPOSITORY=org/app", "GITHUB_RUN_ID=42"}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"app/release.txt": "who-1\n"})
	digest := buildTargets(t, cfg, gh, "app")["app"]
	digest = digest[strings.LastIndex(digest, "@")+1:]
	gl := []string{"GITLAB_USER_LOGIN=gl-user", "CI_JOB_URL=https://gitlab.example/org/app/-/jobs/7"}
	if r := bakery(t, gl, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("promote: exit %d", r.code)
	}
	if r := bakery(t, nil, "revoke", digest, "--reason", "leaked credentials", "--actor", "alice", "--config", cfg); r.code != 0 {
		t.Fatalf("revoke: exit %d", r.code)
	}
	r := bakery(t, nil, "history", "app", "--config", cfg, "-o", "json")
	var hist []struct {
		Environment, Action, Actor, Reason, Digest string
	}
	if err := json.Unmarshal([]byte(r.stdout), &hist); err != nil || r.code != 0 {
		t.Fatalf("history: exit %d (%v)\n%s", r.code, err, r.stdout)
	}
	want := map[string]string{
		"dev build":       "octocat (https://git.example/org/app/actions/runs/42)",
		"staging promote": "gl-user (https://gitlab.example/org/app/-/jobs/7)",
		"(all) revoke":    "alice (key ",
	}
	for _, h := range hist {
		w, ok := want[h.Environment+" "+h.Action]
		if !ok {
			continue
		}
		if !strings.HasPrefix(h.Actor, w) || h.Digest != digest {
			t.Errorf("history %s %s: actor %q, digest %s; want %q…", h.Environment, h.Action, h.Actor, h.Digest, w)
		}
		if h.Action == "revoke" && h.Reason != "leaked credentials" {
			t.Errorf("history revoke: reason %q", h.Reason)
		}
		delete(want, h.Environment+" "+h.Action)
	}
	if len(want) != 0 {
		t.Errorf("history lacks %v:\n%s", want, r.stdout)
	}
}
