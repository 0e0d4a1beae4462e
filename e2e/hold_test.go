//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tagOn is what a tag points at on a registry, read with
// plain HTTP (not with bakery).
func tagOn(t *testing.T, host, repo, tag string) string {
	t.Helper()
	code, d := headManifest(t, host, repo, tag)
	if code != 200 {
		t.Fatalf("HEAD %s/%s:%s: %d", host, repo, tag, code)
	}
	return d
}

// TestRollbackHoldsAgainstCI is the incident: two digests reach prod, prod
// is rolled back during an incident, and the CI job that runs after it must
// not undo the rollback. Only naming the digest, with a reason, brings it
// back.
func TestRollbackHoldsAgainstCI(t *testing.T) {
	ns := runID + "-hold"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod", "app")
	prodRepo := ns + "/prod/app"
	var x [2]string
	for i, content := range []string{"release one", "release two"} {
		x[i] = rebuild(t, cfg, "app", content)
		for _, env := range []string{"staging", "prod"} {
			if r := bakery(t, nil, "promote", "app", "--to", env, "--config", cfg); r.code != 0 {
				t.Fatalf("promote %s to %s: exit %d", x[i], env, r.code)
			}
		}
	}
	if got := tagOn(t, registry2, prodRepo, "prod"); got != x[1] {
		t.Fatalf("prod runs %s, want %s", got, x[1])
	}

	r := bakery(t, nil, "rollback", "app", "--env", "prod", "--reason", "INC-7: 500s after deploy", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, short12(x[1])+" → "+short12(x[0])) { // text prints short digests
		t.Fatalf("rollback: exit %d, want %s → %s\n%s", r.code, x[1], x[0], r.stdout)
	}
	held := func(what string) {
		t.Helper()
		if got := tagOn(t, registry2, prodRepo, "prod"); got != x[0] {
			t.Fatalf("%s: prod's tag is %s, want the rolled-back-to %s", what, got, x[0])
		}
	}
	held("after the rollback")
	if r := bakery(t, nil, "history", "app", "--env", "prod", "--config", cfg, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"reason": "INC-7: 500s after deploy"`) {
		t.Errorf("history does not show the rollback's reason: exit %d\n%s", r.code, r.stdout)
	}

	// what CI runs next
	r = bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg)
	if r.code != 5 || !strings.Contains(r.stderr, x[1]+" was rolled back out of prod") || !strings.Contains(r.stderr, "INC-7") ||
		!strings.Contains(r.stderr, "--digest "+x[1]+" --reason") {
		t.Errorf("bare promote --to prod: exit %d, want 5 naming the rollback and the way back\n%s", r.code, r.stderr)
	}
	held("bare promote --to prod")
	if r := bakery(t, nil, "promote", "--all", "--to", "prod", "--config", cfg); r.code != 5 || !strings.Contains(r.stderr, "rolled back out of prod") {
		t.Errorf("promote --all --to prod: exit %d, want 5", r.code)
	}
	held("promote --all --to prod")
	bakery(t, nil, "promote", "--config", cfg)
	held("bare promote")

	// the plan says so, and changes nothing
	r = bakery(t, nil, "promote", "app", "--to", "prod", "--dry-run", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "refuse") || !strings.Contains(r.stdout, "rolled back out of prod") || !strings.Contains(r.stdout, "nothing was copied") {
		t.Errorf("--dry-run: exit %d\n%s", r.code, r.stdout)
	}
	r = bakery(t, nil, "promote", "--all", "--to", "prod", "--plan", "-o", "json", "--config", cfg)
	var plan struct {
		Plan []struct {
			Target, From, To, Digest, Action, Why string
			Pin                                   *struct{ Digest, To, Reason string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || r.code != 0 || len(plan.Plan) != 1 {
		t.Fatalf("--plan -o json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	if p := plan.Plan[0]; p.Action != "refuse" || p.From != "staging" || p.To != "prod" || p.Pin == nil || p.Pin.Digest != x[1] || p.Pin.To != x[0] || p.Pin.Reason != "INC-7: 500s after deploy" {
		t.Errorf("plan: %+v", p)
	}
	held("the dry runs")

	// named, it needs a reason; with one it comes back and the hold ends
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--digest", x[1], "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "--reason") {
		t.Errorf("--digest without --reason: exit %d, want 2 asking for a reason", r.code)
	}
	held("--digest without --reason")
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--digest", x[1], "--reason", "fixed by config change 42", "--config", cfg); r.code != 0 {
		t.Fatalf("--digest --reason: exit %d", r.code)
	}
	if got := tagOn(t, registry2, prodRepo, "prod"); got != x[1] {
		t.Errorf("prod runs %s after --digest --reason, want %s", got, x[1])
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "already in prod") {
		t.Errorf("bare promote after the explicit one: exit %d, want nothing to do\n%s", r.code, r.stdout)
	}
}

// TestDriftFixRestoresExpected: three digests promoted to staging, then the
// tag moved by hand with the stock crane to the first. drift's FIX names the
// third (what status expects), and the bare rollback, and the FIX as
// printed, put the tag back on it.
func TestDriftFixRestoresExpected(t *testing.T) {
	ns := runID + "-driftfix"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod", "app")
	stagingRepo := regAddr + "/" + ns + "/staging/app"
	var x [3]string
	for i := range x {
		x[i] = rebuild(t, cfg, "app", "release "+string(rune('a'+i)))
		if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
			t.Fatalf("promote %d: exit %d", i, r.code)
		}
	}
	byHand := func() {
		t.Helper()
		run(t, nil, crane, "copy", "--insecure", stagingRepo+"@"+x[0], stagingRepo+":staging")
		if got := tagOn(t, regAddr, ns+"/staging/app", "staging"); got != x[0] {
			t.Fatalf("crane did not move the tag: %s", got)
		}
	}
	byHand()
	if st := statusOf(t, cfg, "app", "staging"); st["drift"] != true || st["expected"] != x[2] {
		t.Fatalf("status after crane: %v, want drift expecting %s", st, x[2])
	}
	r := bakery(t, nil, "drift", "--registry-only", "--config", cfg, "-o", "json")
	var findings []struct{ Target, Environment, What, Fix string }
	if err := json.Unmarshal([]byte(r.stdout), &findings); err != nil || r.code != 4 || len(findings) != 1 {
		t.Fatalf("drift: exit %d %v\n%s", r.code, err, r.stdout)
	}
	fix := findings[0].Fix
	if fix != "bakery rollback app --env staging --digest "+x[2] {
		t.Errorf("drift's FIX %q, want the rollback to %s", fix, x[2])
	}

	r = bakery(t, nil, "rollback", "app", "--env", "staging", "--reason", "undo a hand edit", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, short12(x[0])+" → "+short12(x[2])) {
		t.Errorf("rollback of the drifted tag: exit %d, want %s → %s\n%s", r.code, x[0], x[2], r.stdout)
	}
	if got := tagOn(t, regAddr, ns+"/staging/app", "staging"); got != x[2] {
		t.Errorf("staging's tag after rollback: %s, want %s (not the older %s)", got, x[2], x[1])
	}

	byHand()
	args := append(strings.Fields(strings.TrimPrefix(fix, "bakery ")), "--config", cfg)
	if r := bakery(t, nil, args...); r.code != 0 {
		t.Errorf("drift's FIX as printed: exit %d", r.code)
	}
	if got := tagOn(t, regAddr, ns+"/staging/app", "staging"); got != x[2] {
		t.Errorf("staging's tag after drift's FIX: %s, want %s", got, x[2])
	}
	if r := bakery(t, nil, "drift", "--registry-only", "--config", cfg); r.code != 0 {
		t.Errorf("drift after the fix: exit %d\n%s", r.code, r.stdout)
	}
}

// TestOneBuildFileEveryHop: CI builds once and promotes the same digest
// dev → staging → prod with one metadata file, even after dev's tag moved
// on. Asking for prod before staging names the missing step.
func TestOneBuildFileEveryHop(t *testing.T) {
	ns := runID + "-hops"
	dir := t.TempDir()
	cfg := smallProject(t, dir, ns, registry2+"/"+ns+"/prod", "app")
	meta := filepath.Join(dir, "build.json")
	if r := bakery(t, nil, "build", "--config", cfg, "--progress", "quiet", "--metadata-file", meta); r.code != 0 {
		t.Fatalf("bakery build: exit %d", r.code)
	}
	var built buildOutput
	if b, err := os.ReadFile(meta); err != nil || json.Unmarshal(b, &built) != nil || len(built.Targets) != 1 {
		t.Fatalf("metadata file: %v\n%s", err, b)
	}
	want := built.Targets[0].Digest
	moved := rebuild(t, cfg, "app", "another build") // dev's tag moves on

	r := bakery(t, nil, "promote", "--metadata-file", meta, "--to", "prod", "--config", cfg)
	if r.code != 5 || !strings.Contains(r.stderr, "never promoted into staging") || !strings.Contains(r.stderr, "--metadata-file "+meta+" --to staging") ||
		strings.Contains(r.stderr, "has no receipt for staging") {
		t.Errorf("prod before staging: exit %d, want 5 naming the missing promotion to staging\n%s", r.code, r.stderr)
	}
	for _, env := range []string{"staging", "prod"} {
		if r := bakery(t, nil, "promote", "--metadata-file", meta, "--to", env, "--config", cfg); r.code != 0 {
			t.Fatalf("promote --metadata-file --to %s: exit %d\n%s", env, r.code, r.stdout)
		}
	}
	if got := tagOn(t, registry2, ns+"/prod/app", "prod"); got != want || got == moved {
		t.Errorf("prod runs %s, want the built %s", got, want)
	}
	if got := tagOn(t, regAddr, ns+"/staging/app", "staging"); got != want {
		t.Errorf("staging runs %s, want the built %s", got, want)
	}
	if r := bakery(t, nil, "promote", "--metadata-file", meta, "--from", "dev", "--to", "staging", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "already") {
		t.Errorf("--metadata-file --from dev --to staging again: exit %d\n%s", r.code, r.stdout)
	}
}
