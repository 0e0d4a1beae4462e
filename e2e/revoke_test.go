//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// chainProject is a golden base and an app built FROM the base's dev tag,
// with dev, staging and prod (prod on the second registry).
func chainProject(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 1
targets:
  base:
    type: container
    context: base
  app:
    type: container
    context: app
    args:
      BASE: %s/%s/dev/base:dev
`, regAddr, ns) + projectTail(ns, registry2+"/"+ns+"/prod")
	writeFiles(t, dir, map[string]string{
		"bakery.yaml":      cfg,
		"base/Dockerfile":  "FROM scratch\nCOPY release.txt /etc/base-release\n",
		"base/release.txt": ns + " base\n",
		"app/Dockerfile":   "ARG BASE\nFROM ${BASE}\nCOPY app.txt /etc/app\n",
		"app/app.txt":      "app\n",
	})
	return filepath.Join(dir, "bakery.yaml")
}

// TestRevokeCascadesAndEverythingRefuses: revoking the golden base with
// --cascade revokes the app built FROM it (read from the app's provenance);
// then verify exits 4, promote is denied, status --check fails naming the
// fix, and --restore undoes it. A revocation list written by an attacker
// with push rights to dev and their own key is reported and ignored.
func TestRevokeCascadesAndEverythingRefuses(t *testing.T) {
	ns := runID + "-revoke"
	cfg := chainProject(t, ns)
	base := buildTargets(t, cfg, nil, "base")["base"]
	app := buildTargets(t, cfg, nil, "app")["app"]
	baseDigest, appDigest := base[strings.LastIndex(base, "@")+1:], app[strings.LastIndex(app, "@")+1:]
	for _, tgt := range []string{"base", "app"} {
		if r := bakery(t, nil, "promote", tgt, "--to", "staging", "--config", cfg); r.code != 0 {
			t.Fatalf("promote %s: exit %d\n%s", tgt, r.code, r.stderr)
		}
	}

	// Bad input first: nothing may be written.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"revoke", "sha256:" + strings.Repeat("0", 64), "--reason", "x"}, "built or promoted no such digest"},
		{[]string{"revoke", baseDigest, "--reason", "x", "--at", "2020-01-01T00:00:00Z"}, "in the past"},
		{[]string{"revoke", baseDigest}, "--reason"},
		{[]string{"revoke", "latest", "--reason", "x"}, "is not a digest"},
		{[]string{"revoke", baseDigest, "--reason", "x", "--cascade"}, "not confirmed"}, // stdin is empty
	} {
		r := bakery(t, nil, append(tc.args, "--config", cfg)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := bakery(t, nil, "verify", app, "--config", cfg); r.code != 0 {
		t.Fatalf("verify before any revocation: exit %d\n%s", r.code, r.stderr)
	}

	r := bakery(t, nil, "revoke", baseDigest, "--reason", "CVE-2024-3094 in xz-utils", "--cascade", "--yes", "--config", cfg, "-o", "json")
	var out struct {
		Entries []struct{ Digest, Target, Cause, Action string } `json:"entries"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Entries) != 2 ||
		out.Entries[1].Digest != appDigest || out.Entries[1].Cause != baseDigest || out.Entries[1].Target != "app" {
		t.Fatalf("revoke --cascade: exit %d, %+v\n%s\n%s", r.code, out, r.stdout, r.stderr)
	}
	if r := bakery(t, nil, "verify", app, "--config", cfg); r.code != 4 || !strings.Contains(r.stderr, "CVE-2024-3094") || !strings.Contains(r.stderr, baseDigest) {
		t.Errorf("verify of the app built on the revoked base: exit %d\n%s", r.code, r.stderr)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 5 || !strings.Contains(r.stdout+r.stderr, "not_revoked") {
		t.Errorf("promote of a revoked digest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = bakery(t, nil, "status", "--check", "--config", cfg)
	if r.code != 4 || !strings.Contains(r.stdout, "REVOKED") || !strings.Contains(r.stderr, "promote a fix of app into staging") {
		t.Errorf("status --check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if st := statusOf(t, cfg, "base", "staging"); st["revocation"] == nil {
		t.Errorf("status -o json of base in staging: %v, want revoked", st)
	}
	if r := bakery(t, nil, "rollback", "app", "--env", "staging", "--config", cfg); r.code == 0 {
		t.Errorf("rollback with only revoked digests: exit 0")
	}

	// The attacker (push rights to dev, their own key) writes dev's list,
	// restoring the app. It is reported and ignored.
	attacker := []string{"BAKERY_SIGNING_KEY=" + filepath.Join(keyDir, "other.key"), "BAKERY_SIGNING_PASSWORD=",
		"BAKERY_VERIFICATION_KEYS=" + filepath.Join(keyDir, "trusted.pub") + "," + filepath.Join(keyDir, "other.pub")}
	devOnly := cfgWithEnvs(t, cfg, 1)
	if r := bakery(t, attacker, "revoke", appDigest, "--restore", "--reason", "trust me", "--config", devOnly); r.code != 0 {
		t.Fatalf("the attacker's restore: exit %d\n%s", r.code, r.stderr)
	}
	r = bakery(t, nil, "verify", app, "--config", cfg)
	if r.code != 4 || !strings.Contains(r.stderr, "ignored a revocation list") || !strings.Contains(r.stderr, "/dev/bakery-revocations") {
		t.Errorf("verify after the attacker's dev list: exit %d\n%s", r.code, r.stderr)
	}

	// --restore with the trusted key undoes it everywhere.
	if r := bakery(t, nil, "revoke", baseDigest, "--restore", "--cascade", "--yes", "--reason", "false positive", "--config", cfg); r.code != 0 {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	}
	if r := bakery(t, nil, "verify", app, "--config", cfg); r.code != 0 {
		t.Errorf("verify after --restore: exit %d\n%s", r.code, r.stderr)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 0 {
		t.Errorf("promote after --restore: exit %d\n%s", r.code, r.stderr)
	}
}

// cfgWithEnvs writes a copy of cfg that keeps only its first n environments.
func cfgWithEnvs(t *testing.T, cfg string, n int) string {
	t.Helper()
	b := readFile(t, cfg)
	head, envs, _ := strings.Cut(b, "environments:\n")
	parts := strings.SplitAfter(envs, "\n  - name: ")
	kept := strings.Join(parts[:n], "")
	kept = strings.TrimSuffix(kept, "  - name: ")
	out := filepath.Join(t.TempDir(), "bakery.yaml")
	writeFiles(t, filepath.Dir(out), map[string]string{"bakery.yaml": head + "environments:\n" + kept})
	return out
}
