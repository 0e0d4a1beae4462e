//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const registry2 = "127.0.0.1:5001"

// newBuild is the environment of a build that makes a new digest of the
// golden target: builds are reproducible, so each one gets its own label.
func newBuild() []string {
	return []string{"BAKERY_TARGETS_GOLDEN_LABELS_BUILD=" + strconv.FormatInt(time.Now().UnixNano(), 10)}
}

// promoteProject is a project whose golden image goes dev → staging (same
// registry, another repository) → prod (another registry).
func promoteProject(t *testing.T, ns, prodPolicy string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 1
targets:
  golden:
    type: container
    context: %s
    args:
      BASE: %s
    labels:
      build: "0"
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
  license_denylist: [AGPL-3.0-only]
  package_denylist: [telnetd]
%s
environments:
  - name: dev
    repository: %s/%s/dev
  - name: staging
    repository: %s/%s/staging
    policies: [signed, sbom, provenance, promoted_through]
  - name: prod
    repository: %s/%s/prod
    policies: [signed, sbom, provenance, promoted_through, license_denylist, package_denylist]
`, filepath.Join(root, "examples/golden-base"), baseImg, prodPolicy, regAddr, ns, regAddr, ns, registry2, ns)
	writeFiles(t, dir, map[string]string{"bakery.yaml": cfg})
	return filepath.Join(dir, "bakery.yaml")
}

func buildDigest(t *testing.T, cfg string) string {
	t.Helper()
	refs := buildTargets(t, cfg, newBuild(), "golden")
	ref := refs["golden"]
	return ref[strings.LastIndex(ref, "@")+1:]
}

func promoteJSON(t *testing.T, cfg string, args ...string) (map[string]any, result) {
	t.Helper()
	r := bakery(t, nil, append([]string{"promote", "golden", "--config", cfg, "-o", "json"}, args...)...)
	return onePromotion(t, r), r
}

// onePromotion is the one target's result in promote -o json (a list of
// promotions, whatever their number), or its entry when it has no result.
func onePromotion(t *testing.T, r result) map[string]any {
	t.Helper()
	if r.stdout == "" {
		return nil
	}
	var out struct{ Promotions []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Promotions) != 1 {
		t.Fatalf("promote output: %v, want one promotion\n%s", err, r.stdout)
	}
	if res, ok := out.Promotions[0]["result"].(map[string]any); ok {
		return res
	}
	return out.Promotions[0]
}

// TestPromoteRollbackHistoryStatus runs build → staging → prod, a second
// build through to prod, and a rollback, on the real registries, and checks
// the stock cosign CLI at every destination and what history and status say.
func TestPromoteRollbackHistoryStatus(t *testing.T) {
	ns := runID + "/promote"
	cfg := promoteProject(t, ns, "")
	pub := filepath.Join(keyDir, "trusted.pub")

	d1 := buildDigest(t, cfg)
	for _, env := range []string{"staging", "prod"} {
		out, r := promoteJSON(t, cfg, "--to", env)
		if r.code != 0 || out["digest"] != d1 || out["receiptSigned"] != true {
			t.Fatalf("promote %s: exit %d %v", env, r.code, out)
		}
		host := regAddr
		if env == "prod" {
			host = registry2
		}
		ref := fmt.Sprintf("%s/%s/%s/golden@%s", host, ns, env, d1)
		// Byte-identical: the registry serves exactly the built digest.
		at, _, _ := strings.Cut(ref, "@")
		repo := strings.TrimPrefix(at, host+"/")
		if host == regAddr {
			body, got, _ := manifest(t, repo, d1)
			if got != d1 || sha256Digest(body) != d1 {
				t.Errorf("%s: registry digest %s, body %s, want %s", env, got, sha256Digest(body), d1)
			}
		}
		if o, code := stockCosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", ref); code != 0 {
			t.Errorf("cosign verify at %s: exit %d\n%s", env, code, o)
		}
		for _, typ := range []string{"spdxjson", "cyclonedx", "slsaprovenance1"} {
			if o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", typ, ref); code != 0 {
				t.Errorf("cosign verify-attestation --type %s at %s: exit %d\n%s", typ, env, code, o)
			}
		}
	}
	// Promoting again is idempotent: nothing is copied, signed or moved.
	out, r := promoteJSON(t, cfg, "--to", "prod")
	if r.code != 0 || out["alreadyPromoted"] != true || out["copy"] != nil {
		t.Errorf("re-promote: exit %d, %v", r.code, out)
	}

	d2 := buildDigest(t, cfg)
	if d2 == d1 {
		t.Fatal("the second build has the same digest; the rollback would prove nothing")
	}
	// prod requires staging first.
	if _, r := promoteJSON(t, cfg, "--to", "prod", "--from", "dev"); r.code != 5 || !strings.Contains(r.stderr, "has no receipt for staging") {
		t.Errorf("prod before staging: exit %d, %s", r.code, r.stderr)
	}
	for _, env := range []string{"staging", "prod"} {
		if _, r := promoteJSON(t, cfg, "--to", env); r.code != 0 {
			t.Fatalf("promote d2 to %s: exit %d", env, r.code)
		}
	}
	rb := bakery(t, nil, "rollback", "golden", "--env", "prod", "--config", cfg, "-o", "json")
	if rb.code != 0 || !strings.Contains(rb.stdout, d1) {
		t.Fatalf("rollback: exit %d %s", rb.code, rb.stdout)
	}

	h := bakery(t, nil, "history", "golden", "--env", "prod", "--config", cfg, "-o", "json")
	var hist []struct {
		Environment, Digest, Action, Result string
		KeyID                               string `json:"keyId"`
	}
	if err := json.Unmarshal([]byte(h.stdout), &hist); err != nil || h.code != 0 {
		t.Fatalf("history: %v exit %d", err, h.code)
	}
	var seq []string
	for _, e := range hist {
		seq = append(seq, e.Action+" "+e.Digest)
		if e.Environment != "prod" || e.Result != "PASSED" || e.KeyID == "" {
			t.Errorf("history entry %+v", e)
		}
	}
	want := []string{"promote " + d1, "promote " + d2, "rollback " + d1}
	if strings.Join(seq, "\n") != strings.Join(want, "\n") {
		t.Errorf("prod history:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}

	s := bakery(t, nil, "status", "--config", cfg, "-o", "json")
	var st []struct {
		Target, Environment, Digest, Action string
		Signer                              string `json:"keyId"`
		Verified                            bool
	}
	if err := json.Unmarshal([]byte(s.stdout), &st); err != nil || s.code != 0 {
		t.Fatalf("status: %v exit %d", err, s.code)
	}
	got := map[string]string{}
	for _, x := range st {
		got[x.Environment] = x.Action + " " + x.Digest
		if !x.Verified || x.Signer == "" {
			t.Errorf("status %+v", x)
		}
	}
	if got["dev"] != "build "+d2 || got["staging"] != "promote "+d2 || got["prod"] != "rollback "+d1 {
		t.Errorf("status = %v", got)
	}
}

// TestPromoteDenials checks a deny case for every shipped policy: the exit
// code, the violated rule and environment in the message, and that nothing
// reached the destination.
func TestPromoteDenials(t *testing.T) {
	ns := runID + "/deny"
	for _, tc := range []struct {
		name, want string
		edit       func(string) string
	}{
		{"provenance: builder not allowed", `builder "https://github.com/bakeryhq/bakery/e2e" is not allowed`,
			func(c string) string {
				return strings.Replace(c, "allowed_builders: [https://github.com/bakeryhq/bakery/e2e]", "allowed_builders: [https://other.example]", 1)
			}},
		{"license_denylist: GPL denied in prod", "which prod denies",
			func(c string) string {
				return strings.Replace(c, "license_denylist: [AGPL-3.0-only]", "license_denylist: [GPL-3.0-or-later]", 1)
			}},
		{"package_denylist: bash denied in prod", "package bash ",
			func(c string) string {
				return strings.Replace(c, "package_denylist: [telnetd]", "package_denylist: [bash]", 1)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := ns + "/" + strings.Split(tc.name, ":")[0]
			cfgPath := promoteProject(t, sub, "")
			d := buildDigest(t, cfgPath)
			if _, r := promoteJSON(t, cfgPath, "--to", "staging"); r.code != 0 {
				t.Fatalf("staging: exit %d", r.code)
			}
			edited := tc.edit(readFile(t, cfgPath))
			writeFiles(t, filepath.Dir(cfgPath), map[string]string{"bakery.yaml": edited})
			out, r := promoteJSON(t, cfgPath, "--to", "prod")
			if e := errorText(t, r); r.code != 5 || !strings.Contains(e, tc.want) || !strings.Contains(e, "promotion to prod") {
				t.Errorf("exit %d, stderr %q, want 5 and %q", r.code, r.stderr, tc.want)
			}
			if dec, _ := out["decision"].(map[string]any); dec == nil || dec["allowed"] != false {
				t.Errorf("decision %v", out["decision"])
			}
			if code := headStatus(t, registry2, sub+"/prod/golden", d); code != 404 {
				t.Errorf("the denied digest reached prod (HEAD %d)", code)
			}
			if code := headStatus(t, registry2, sub+"/prod/golden", "prod"); code != 404 {
				t.Errorf("prod's tag exists after a denial (HEAD %d)", code)
			}
		})
	}
	t.Run("promoted_through, signed, sbom and provenance via policy eval", func(t *testing.T) {
		cfgPath := promoteProject(t, ns+"/eval", "")
		d := buildDigest(t, cfgPath)
		ref := fmt.Sprintf("%s/%s/eval/dev/golden@%s", regAddr, ns, d)
		r := bakery(t, nil, "policy", "eval", ref, "--env", "prod", "--config", cfgPath)
		if r.code != 5 || !strings.Contains(r.stdout, "promoted_through:") || !strings.Contains(r.stdout, "has no receipt for staging") {
			t.Errorf("promoted_through: exit %d\n%s", r.code, r.stdout)
		}
		if r := bakery(t, nil, "policy", "eval", ref, "--env", "staging", "--config", cfgPath); r.code != 0 || !strings.HasPrefix(r.stdout, "ALLOWED") {
			t.Errorf("staging should allow: exit %d\n%s", r.code, r.stdout)
		}
		unsigned := buildTargets(t, cfgPath, newBuild(), "golden", "--no-attest")["golden"]
		r = bakery(t, nil, "policy", "eval", unsigned, "--env", "staging", "--config", cfgPath)
		for _, want := range []string{"signed:", "sbom:", "provenance:"} {
			if r.code != 5 || !strings.Contains(r.stdout, want) {
				t.Errorf("unsigned image: exit %d, want a %s violation\n%s", r.code, want, r.stdout)
			}
		}
		// promote itself stops at verification for such an image (exit 4).
		if _, r := promoteJSON(t, cfgPath, "--to", "staging"); r.code != 4 {
			t.Errorf("promote unsigned: exit %d, want 4", r.code)
		}
	})
}

// TestPromoteBadInput covers unknown names and a digest that is not in the source.
func TestPromoteBadInput(t *testing.T) {
	cfgPath := promoteProject(t, runID+"/bad", "")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"promote", "nope", "--to", "staging"}, 2, `target "nope"`},
		{[]string{"promote", "golden", "--to", "qa"}, 2, `environment "qa"`},
		{[]string{"promote", "golden", "--to", "dev"}, 2, "first environment"},
		{[]string{"promote", "golden", "--to", "staging", "--digest", "sha256:" + strings.Repeat("ab", 32)}, 2, "not in the source repository"},
		{[]string{"promote", "golden", "--to", "staging"}, 2, "nothing is there"},
		{[]string{"rollback", "golden", "--env", "prod"}, 2, "no earlier digest"},
		{[]string{"promote", "--digest", "sha256:" + strings.Repeat("ab", 32)}, 2, "name exactly one TARGET and --to"},
		{[]string{"promote", "golden", "--from", "dev"}, 2, "--from needs --to"},
		{[]string{"promote", "golden", "--all"}, 2, "--all or name targets"},
		{[]string{"promote", "--metadata-file", "/nonexistent/build.json"}, 2, "--metadata-file"},
		{[]string{"promote", "--to", "stagin"}, 2, `environment "stagin"`},
		{[]string{"promote", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"promot", "golden"}, 2, "did you mean promote?"},
		{[]string{"status", "extra"}, 2, `target "extra"`},
		{[]string{"history", "golden", "--env", "qa"}, 2, `environment "qa"`},
	} {
		r := bakery(t, nil, append(tc.args, "--config", cfgPath)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q on one line", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// promotions runs a multi-target promote with -o json and returns each
// target's outcome ("promoted", "skipped", ...) and the result's digest.
func promotions(t *testing.T, cfg string, args ...string) (map[string]string, map[string]string, result) {
	t.Helper()
	r := bakery(t, nil, append([]string{"promote", "--config", cfg, "-o", "json"}, args...)...)
	var out struct {
		Promotions []struct {
			Target  string `json:"target"`
			Outcome string `json:"outcome"`
			Result  *struct {
				Digest string `json:"digest"`
			} `json:"result"`
		} `json:"promotions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("promote %v: exit %d, output %q: %v\n%s", args, r.code, r.stdout, err, r.stderr)
	}
	outcomes, digests := map[string]string{}, map[string]string{}
	for _, p := range out.Promotions {
		outcomes[p.Target] = p.Outcome
		if p.Result != nil {
			digests[p.Target] = p.Result.Digest
		}
	}
	return outcomes, digests, r
}

// TestCIBuildThenPromote is the pipeline exactly as CI writes it:
// `bakery build --metadata-file F && bakery promote --metadata-file F`
// promotes the digests that build made, even after dev's tag moved on; a
// bare `bakery promote` moves every target one environment on; and
// `promote --all --to ENV` takes only targets whose source is newer.
func TestCIBuildThenPromote(t *testing.T) {
	ns := runID + "-ci"
	dir := t.TempDir()
	cfg := smallProject(t, dir, ns, registry2+"/"+ns+"/prod", "app", "web")
	meta := filepath.Join(dir, "build.json")
	if r := bakery(t, nil, "build", "--config", cfg, "--progress", "quiet", "--metadata-file", meta); r.code != 0 {
		t.Fatalf("bakery build: exit %d\n%s", r.code, r.stderr)
	}
	var built buildOutput
	b, err := os.ReadFile(meta)
	if err != nil || json.Unmarshal(b, &built) != nil || len(built.Targets) != 2 {
		t.Fatalf("metadata file: %v\n%s", err, b)
	}
	want := map[string]string{}
	for _, tgt := range built.Targets {
		want[tgt.Target] = tgt.Digest
	}
	moved := rebuild(t, cfg, "app", "after the build job") // dev's tag moves on

	r := bakery(t, nil, "promote", "--config", cfg, "--metadata-file", meta)
	if r.code != 0 || !strings.Contains(r.stdout, "TARGET") || strings.Count(r.stdout, " promoted\n") != 2 {
		t.Fatalf("promote --metadata-file: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for tgt, d := range want {
		if got := statusOf(t, cfg, tgt, "staging")["digest"]; got != d || got == moved {
			t.Errorf("%s in staging: %v, want the built %s", tgt, got, d)
		}
	}

	// Bare: each target moves on from where it was last put (staging) to prod.
	outcomes, digests, r := promotions(t, cfg)
	if r.code != 0 || outcomes["app"] != "promoted" || outcomes["web"] != "promoted" || digests["app"] != want["app"] {
		t.Errorf("bare promote: exit %d, %v %v\n%s", r.code, outcomes, digests, r.stderr)
	}
	outcomes, _, r = promotions(t, cfg)
	if r.code != 0 || outcomes["app"] != "skipped" || outcomes["web"] != "skipped" {
		t.Errorf("bare promote with everything in prod: exit %d, %v", r.code, outcomes)
	}

	// --all --to staging: app's dev digest (moved) is older than what
	// staging got since, so it is skipped; after another build it is newer.
	outcomes, _, r = promotions(t, cfg, "--all", "--to", "staging")
	if r.code != 0 || outcomes["app"] != "skipped" || outcomes["web"] != "already promoted" {
		t.Errorf("--all --to staging: exit %d, %v", r.code, outcomes)
	}
	fresh := rebuild(t, cfg, "app", "a fix")
	outcomes, digests, r = promotions(t, cfg, "--all", "--to", "staging")
	if r.code != 0 || outcomes["app"] != "promoted" || digests["app"] != fresh || outcomes["web"] != "already promoted" {
		t.Errorf("--all --to staging after a build: exit %d, %v %v", r.code, outcomes, digests)
	}
}
