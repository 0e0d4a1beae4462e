//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// statusDigest is the digest bakery status prints for target in env, cut to
// what a person copies: sha256: and 12 hex digits.
func statusDigest(t *testing.T, cfg, target, env string) string {
	t.Helper()
	r := bakery(t, nil, "status", "--config", cfg)
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == target && f[2] == env && strings.HasPrefix(f[3], "sha256:") && len(f[3]) >= 19 {
			return f[3][:19]
		}
	}
	t.Fatalf("bakery status shows no digest for %s in %s:\n%s", target, env, r.stdout)
	return ""
}

// TestShortDigests is the person at the terminal: they copy the 12 hex
// digits bakery status prints and type them to promote --digest, revoke and
// rollback --digest, and bakery acts on the full digest (checked on the
// registry). Too short, not hex and a prefix of nothing are exit 2 and say
// so, and change nothing.
func TestShortDigests(t *testing.T) {
	ns := runID + "-prefix"
	cfg := smallProject(t, t.TempDir(), ns, regAddr+"/"+ns+"/prod", "app")
	first := rebuild(t, cfg, "app", "prefix one")
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("promote the first digest: exit %d", r.code)
	}
	second := rebuild(t, cfg, "app", "prefix two")

	// promote --digest with the prefix status shows for dev, without sha256:
	short := statusDigest(t, cfg, "app", "dev")
	if !strings.HasPrefix(second, short) {
		t.Fatalf("status shows %s in dev, want the second build %s", short, second)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--digest", strings.TrimPrefix(short, "sha256:"), "--config", cfg); r.code != 0 {
		t.Fatalf("promote --digest %s: exit %d", short, r.code)
	}
	if _, d := headManifest(t, regAddr, ns+"/staging/app", "staging"); d != second {
		t.Fatalf("staging's tag is at %s, want %s", d, second)
	}

	// Bad prefixes: exit 2, saying why, and staging's tag stays.
	miss := "sha256:000000000000"
	if strings.HasPrefix(first, miss) || strings.HasPrefix(second, miss) {
		miss = "sha256:ffffffffffff"
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"revoke", short[:18], "--reason", "x"}, "at least 12"},
		{[]string{"revoke", miss, "--reason", "x"}, "no digest of any target starts with " + strings.TrimPrefix(miss, "sha256:")},
		{[]string{"promote", "app", "--to", "prod", "--digest", miss}, "no digest of app starts with"},
		{[]string{"promote", "app", "--to", "prod", "--digest", "sha256:" + strings.Repeat("g", 12)}, "other than hex"},
		{[]string{"rollback", "app", "--env", "staging", "--digest", short[:15]}, "at least 12"},
		{[]string{"rollback", "app", "--env", "staging", "--digest", miss}, "see bakery history app"},
	} {
		r := bakery(t, nil, append(tc.args, "--config", cfg)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if _, d := headManifest(t, regAddr, ns+"/staging/app", "staging"); d != second {
		t.Fatalf("after the refused commands staging's tag is at %s, want %s", d, second)
	}

	// revoke with the prefix status shows for staging: the full digest is
	// on the signed list, and verify refuses it.
	short = statusDigest(t, cfg, "app", "staging")
	r := bakery(t, nil, "revoke", short, "--reason", "short digests e2e", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, second) {
		t.Fatalf("revoke %s: exit %d, stdout %q; want the full digest %s", short, r.code, r.stdout, second)
	}
	if code, _ := headManifest(t, regAddr, ns+"/staging/bakery-revocations", "list"); code != 200 {
		t.Errorf("staging's revocation list: HEAD %d, want 200", code)
	}
	if r := bakery(t, nil, "verify", regAddr+"/"+ns+"/staging/app@"+second, "--config", cfg); r.code != 4 {
		t.Errorf("verify the revoked digest: exit %d, want 4", r.code)
	}

	// rollback --digest the first digest by its prefix (once a false exit 4).
	if r := bakery(t, nil, "rollback", "app", "--env", "staging", "--digest", first[:19], "--reason", "revoked", "--config", cfg); r.code != 0 {
		t.Fatalf("rollback --digest %s: exit %d", first[:19], r.code)
	}
	if _, d := headManifest(t, regAddr, ns+"/staging/app", "staging"); d != first {
		t.Errorf("staging's tag is at %s after the rollback, want %s", d, first)
	}
}
