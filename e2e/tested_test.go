//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testedProject is a target with a suite bakery runs (structure) and an
// external one (smoke); staging requires tested, prod requires smoke PASSED
// in staging.
func testedProject(t *testing.T, ns, expect string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  app:
    type: container
    context: app
    labels: {build: "0"}
    tests:
      - {name: structure, file: tests/app.yaml}
      - {name: smoke, external: true}
environments:
  - name: dev
    repository: %[1]s/%[2]s/dev
    insecure: true
  - name: staging
    repository: %[1]s/%[2]s/staging
    insecure: true
    policies: [signed, tested]
  - name: prod
    repository: %[1]s/%[2]s/prod
    insecure: true
    policies: [signed, tested_in]
    tested_in: {environment: staging, suites: [smoke]}
`, regAddr, ns),
		"app/Dockerfile": "FROM " + baseImg + "\nCOPY hello.txt /hello.txt\n",
		"app/hello.txt":  "hello\n",
		"tests/app.yaml": `schemaVersion: 2.0.0
commandTests:
  - name: greets
    command: cat
    args: [/hello.txt]
    expectedOutput: ["` + expect + `"]
fileExistenceTests:
  - name: greeting
    path: /hello.txt
    shouldExist: true
metadataTest:
  envVars:
    - key: PATH
      value: /usr/bin
      isRegex: true
`,
	})
	return filepath.Join(dir, "bakery.yaml")
}

func appBuild() []string {
	return []string{"BAKERY_TARGETS_APP_LABELS_BUILD=" + strconv.FormatInt(time.Now().UnixNano(), 10)}
}

// TestTestedDigestsOnly is issue 22 end to end on buildkitd and the registry:
// build shows its suites' results (JSON, text count, JUnit, job summary);
// bakery build tests the digest before the tag moves (a failing suite leaves
// the tag and exits 3, its FAILED result recorded); the stock cosign CLI
// verifies the result; staging requires tested; prod requires the external
// smoke suite PASSED in staging, recorded from JUnit; a later FAILED
// withdraws it; forged results (an untrusted key, another environment,
// another target) made with the stock cosign CLI never count; and status,
// verify, history, inspect and the report (in the browser) show the same
// evidence, the FAILED that withdrew a PASSED and then the PASSED again.
func TestTestedDigestsOnly(t *testing.T) {
	ns := runID + "/tested"
	cfg := testedProject(t, ns, "hello")
	label := appBuild()
	ref := buildShowingTests(t, cfg, label)
	pub := filepath.Join(keyDir, "trusted.pub")
	if o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "https://in-toto.io/attestation/test-result/v0.1", ref); code != 0 || !strings.Contains(o, "The signatures were verified against the specified public key") {
		t.Errorf("stock cosign verify-attestation of the test result: exit %d\n%s", code, o)
	}
	r := bakery(t, nil, "test", "app", "--config", cfg, "-o", "json")
	var tj struct {
		Environment string
		Results     []struct {
			Result string
			Bakery struct{ Suite, Platform, Environment string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &tj); r.code != 0 || err != nil || len(tj.Results) != 1 || tj.Results[0].Result != "PASSED" || tj.Results[0].Bakery.Environment != "dev" {
		t.Fatalf("bakery test app: exit %d, %+v (%v)", r.code, tj, err)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("promote to staging with the build's PASSED result: exit %d", r.code)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 5 || !strings.Contains(r.stderr, "no result of suite smoke in staging") {
		t.Errorf("promote to prod without smoke evidence: exit %d, want 5 naming the missing suite", r.code)
	}
	// Forged PASSED smoke results, each refused.
	forge := func(key, password, env, target string) {
		pred := filepath.Join(t.TempDir(), "pred.json")
		writeFiles(t, filepath.Dir(pred), map[string]string{"pred.json": fmt.Sprintf(`{"result":"PASSED","configuration":[{"name":"smoke.xml","digest":{"sha256":"00"}}],
"passedTests":["login"],"warnedTests":[],"failedTests":[],"bakery":{"suite":"smoke","target":%q,"environment":%q,"runner":"junit",
"started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:01:00Z"}}`, target, env)})
		run(t, []string{"COSIGN_PASSWORD=" + password}, cosign, "attest", "--key", filepath.Join(keyDir, key), "--type", "https://in-toto.io/attestation/test-result/v0.1",
			"--predicate", pred, "--tlog-upload=false", "--yes", strings.Replace(ref, "/dev/", "/staging/", 1))
	}
	forge("other.key", "", "staging", "app")                // an untrusted key
	forge("trusted.key", signingPassword, "dev", "app")     // another environment
	forge("trusted.key", signingPassword, "staging", "web") // another target
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 5 {
		t.Errorf("promote to prod on forged smoke results: exit %d, want 5", r.code)
	}
	junit := filepath.Join(t.TempDir(), "smoke.xml")
	writeFiles(t, filepath.Dir(junit), map[string]string{"smoke.xml": `<testsuite name="smoke"><testcase name="login"/></testsuite>`,
		"failed.xml": `<testsuite name="smoke"><testcase name="login"><failure message="500"/></testcase></testsuite>`})
	if r := bakery(t, nil, "test", "app", "--env", "staging", "--suite", "smoke", "--junit", junit, "--config", cfg); r.code != 0 {
		t.Fatalf("recording a passing JUnit run: exit %d", r.code)
	}
	if r := bakery(t, nil, "test", "app", "--env", "staging", "--suite", "smoke", "--junit", filepath.Join(filepath.Dir(junit), "failed.xml"), "--config", cfg); r.code != 3 || !strings.Contains(r.stderr, "login") {
		t.Errorf("recording a failing JUnit run: exit %d, want 3 naming login", r.code)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 5 || !strings.Contains(r.stderr, "FAILED") {
		t.Errorf("promote to prod after a later FAILED: exit %d, want 5", r.code)
	}
	checkWithdrawnEverywhere(t, cfg, ref)
	if r := bakery(t, nil, "test", "app", "--env", "staging", "--suite", "smoke", "--junit", junit, "--config", cfg); r.code != 0 {
		t.Fatalf("recording a passing JUnit run again: exit %d", r.code)
	}
	// The same evidence under a prod that wants an hour of soak: too fresh.
	soak := strings.Replace(readFile(t, cfg), "suites: [smoke]}", "suites: [smoke], soak: 1h}", 1)
	writeFiles(t, filepath.Dir(cfg), map[string]string{"soak.yaml": soak})
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", filepath.Join(filepath.Dir(cfg), "soak.yaml")); r.code != 5 || !strings.Contains(r.stderr, "of soak") {
		t.Errorf("promote to prod before an hour of soak: exit %d, want 5 saying how much soak is left\n%s", r.code, r.stderr)
	}
	if r := bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg); r.code != 0 {
		t.Errorf("promote to prod with smoke PASSED in staging: exit %d", r.code)
	}
	checkPassedEverywhere(t, cfg, ref, ns)

	// The same digest built again with a suite that now fails: nothing
	// moves, and the build fails (the digest is tested again).
	if r := bakery(t, label, "build", "app", "--config", testedProject(t, ns, "goodbye"), "--progress", "quiet"); r.code != 3 || !strings.Contains(r.stderr, "greets") {
		t.Errorf("an unchanged digest whose suite now fails: exit %d, want 3 naming greets", r.code)
	}
	// A new digest whose suite fails: exit 3 naming the test, the dev tag stays.
	_, before, _ := manifest(t, ns+"/dev/app", "dev")
	bad := testedProject(t, ns, "goodbye")
	r = bakery(t, appBuild(), "build", "app", "--config", bad, "--progress", "quiet")
	if r.code != 3 || !strings.Contains(r.stderr, "greets") {
		t.Errorf("a failing suite: exit %d, want 3 naming greets", r.code)
	}
	if _, after, _ := manifest(t, ns+"/dev/app", "dev"); after != before {
		t.Errorf("the dev tag moved from %s to %s after a failing suite", before, after)
	}
}
