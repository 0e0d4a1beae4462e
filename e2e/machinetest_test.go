//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testResultType is the in-toto test-result predicate type.
const testResultType = "https://in-toto.io/attestation/test-result/v0.1"

// machineTestProject writes a project whose golden-ami target (the
// example's template, with its bakery-test provisioner) has the given
// suites (name: file under tests/), and returns its bakery.yaml. staging
// requires tested. Every project of a test shares ns, so its repositories.
func machineTestProject(t *testing.T, dir, name, ns string, suites map[string]string) string {
	t.Helper()
	var tests strings.Builder
	files := map[string]string{}
	for _, s := range slices.Sorted(maps.Keys(suites)) {
		fmt.Fprintf(&tests, "      - {name: %s, file: tests/%s.yaml}\n", s, s)
		files["tests/"+s+".yaml"] = suites[s]
	}
	files[name] = fmt.Sprintf(`version: 1
targets:
  golden-ami:
    type: packer
    template: %s
    variables: {source_rootfs: %s}
    tests:
%ssigning:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
environments:
  - name: dev
    repository: %s/%s/dev
  - name: staging
    repository: %s/%s/staging
    policies: [signed, provenance, tested]
    aws: {regions: [us-east-1], accounts: ["111122223333"]}
`, filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl"), rootfs, tests.String(), regAddr, ns, regAddr, ns)
	writeFiles(t, dir, files)
	return filepath.Join(dir, name)
}

// verifiedTestResults runs the stock cosign CLI's verify-attestation for
// test results of ref with the trusted key and returns the predicates it
// verified.
func verifiedTestResults(t *testing.T, ref string) []map[string]any {
	t.Helper()
	o, code := stockCosign(t, "verify-attestation", "--key", filepath.Join(keyDir, "trusted.pub"), "--type", testResultType,
		"--insecure-ignore-tlog", "--allow-http-registry", ref)
	if code != 0 {
		t.Errorf("stock cosign verify-attestation --type %s %s: exit %d\n%s", testResultType, ref, code, o)
		return nil
	}
	var out []map[string]any
	for _, line := range strings.Split(o, "\n") {
		var env struct{ Payload string }
		if json.Unmarshal([]byte(line), &env) != nil || env.Payload == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			PredicateType string
			Subject       []struct{ Digest map[string]string }
			Predicate     map[string]any
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		digest := ref[strings.LastIndex(ref, "@sha256:")+len("@sha256:"):]
		if st.PredicateType != testResultType || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != digest {
			t.Errorf("statement about %+v (%s), want the record %s alone", st.Subject, st.PredicateType, digest)
		}
		out = append(out, st.Predicate)
	}
	return out
}

// TestMachineImageTested is issue 22 item 3 end to end with the real packer,
// the real plugin and the local EC2 endpoint: the bakery-test provisioner
// runs the example's golden AMI suite inside the chroot before the image is
// sealed; the post-processor signs its PASSED result with the
// machine-image record, which the stock cosign CLI verifies and bakery
// verify lists; a PASSED result forged with the stock cosign CLI and an
// untrusted key does not satisfy tested (the same predicate signed with the
// trusted key does, so the key is what refused it); a failing suite exits 3
// naming the failed test, leaves dev's tag, and still records its FAILED
// result with the new record; bakery test refuses to run a machine image's
// suites itself.
func TestMachineImageTested(t *testing.T) {
	ns := runID + "/ami-tested"
	dir := t.TempDir()
	suite := readFile(t, filepath.Join(root, "examples/tests/golden-ami.yaml"))
	cfg := machineTestProject(t, dir, "bakery.yaml", ns, map[string]string{"hardening": suite})

	refs := buildTargets(t, cfg, nil, "golden-ami")
	ref := refs["golden-ami"]
	digest := ref[strings.LastIndex(ref, "@")+1:]
	preds := verifiedTestResults(t, ref)
	if len(preds) != 1 || preds[0]["result"] != "PASSED" || len(preds[0]["passedTests"].([]any)) != 10 {
		t.Fatalf("verified test results of the record: %+v, want one PASSED with the suite's 10 tests", preds)
	}
	if b := preds[0]["bakery"].(map[string]any); b["suite"] != "hardening" || b["target"] != "golden-ami" || b["platform"] != "linux/amd64" ||
		!strings.HasPrefix(b["runner"].(string), "bakery-chroot on ") || b["environment"] != nil {
		t.Errorf("bakery's fields: %+v", b)
	}
	r := bakery(t, nil, "verify", ref, "--config", cfg, "-o", "json")
	var v struct {
		Tests []struct{ Suite, Platform, Environment, Result string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil || len(v.Tests) != 1 || v.Tests[0].Suite != "hardening" || v.Tests[0].Result != "PASSED" {
		t.Errorf("bakery verify: exit %d, tests %+v (%v)", r.code, v.Tests, err)
	}
	if text := bakery(t, nil, "verify", ref, "--config", cfg); !strings.Contains(text.stdout, "hardening") || !strings.Contains(text.stdout, "PASSED") {
		t.Errorf("bakery verify does not list the test result:\n%s", text.stdout)
	}
	if r := bakery(t, nil, "test", "golden-ami", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "run bakery build golden-ami") || !strings.Contains(r.stderr, "--junit") {
		t.Errorf("bakery test on a machine image: exit %d, want 2 saying the suites run in the packer build", r.code)
	}

	// The same digest with a second suite that never ran: tested refuses it,
	// also with a PASSED result forged with an untrusted key.
	extra := machineTestProject(t, dir, "extra.yaml", ns, map[string]string{"hardening": suite, "extra": suite})
	if r := bakery(t, nil, "promote", "golden-ami", "--to", "staging", "--config", extra); r.code != 5 || !strings.Contains(r.stderr, "no result of suite extra: a machine image is tested inside its packer build") {
		t.Fatalf("promote without a result of extra: exit %d, want 5 naming it", r.code)
	}
	pred := filepath.Join(dir, "forged.json")
	writeFiles(t, dir, map[string]string{"forged.json": `{"result":"PASSED","configuration":[{"name":"tests/extra.yaml","digest":{"sha256":"00"}}],
"passedTests":["all"],"warnedTests":[],"failedTests":[],"bakery":{"suite":"extra","target":"golden-ami","platform":"linux/amd64",
"runner":"bakery-chroot on forger","started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:01:00Z"}}`})
	forge := func(key, password string) {
		run(t, []string{"COSIGN_PASSWORD=" + password}, cosign, "attest", "--key", filepath.Join(keyDir, key), "--type", testResultType,
			"--predicate", pred, "--tlog-upload=false", "--allow-http-registry", "--yes", ref)
	}
	forge("other.key", "")
	if r := bakery(t, nil, "promote", "golden-ami", "--to", "staging", "--config", extra); r.code != 5 || !strings.Contains(r.stderr, "no result of suite extra") {
		t.Errorf("promote on an extra result signed with an untrusted key: exit %d, want 5", r.code)
	}
	forge("trusted.key", signingPassword)
	if r := bakery(t, nil, "promote", "golden-ami", "--to", "staging", "--config", extra); r.code != 0 {
		t.Errorf("promote with the same result signed with the trusted key: exit %d, want 0", r.code)
	}

	// A failing suite: exit 3 naming the test, dev's tag stays, and the
	// FAILED result is recorded with the new record.
	failing := strings.Replace(suite, `expectedContents: ["^Golden image baked by bakery"]`, `expectedContents: ["^Welcome"]`, 1)
	if failing == suite {
		t.Fatal("the example suite no longer checks the banner; update this test")
	}
	bad := machineTestProject(t, dir, "failing.yaml", ns, map[string]string{"hardening": failing})
	r = bakery(t, nil, "build", "golden-ami", "--config", bad, "--progress", "plain")
	if r.code != 3 || !strings.Contains(r.stderr, "the banner says what this is") || strings.Contains(r.stderr, "nothing was recorded") {
		t.Errorf("a failing machine-image suite: exit %d, want 3 naming the failed test", r.code)
	}
	if _, after, _ := manifest(t, ns+"/dev/golden-ami", "dev"); after != digest {
		t.Errorf("dev's tag moved from %s to %s after a failing suite", digest, after)
	}
	var failed []string
	for _, tag := range tags(t, ns+"/dev/golden-ami") {
		if d := "sha256:" + strings.TrimSuffix(strings.TrimPrefix(tag, "sha256-"), ".att"); strings.HasSuffix(tag, ".att") && d != digest {
			failed = append(failed, d)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("attestations of records other than %s: %v, want the failing build's one", digest, failed)
	}
	preds = verifiedTestResults(t, regAddr+"/"+ns+"/dev/golden-ami@"+failed[0])
	if len(preds) != 1 || preds[0]["result"] != "FAILED" || !slices.Equal(preds[0]["failedTests"].([]any), []any{"the banner says what this is"}) {
		t.Errorf("the failing build's recorded results: %+v", preds)
	}
	for _, leftover := range []string{"bakery-test-debian-hardening.json"} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); err != nil {
			t.Errorf("bakery-test wrote no %s next to bakery.yaml: %v", leftover, err)
		}
	}

	// A template without the provisioner, for a target with suites: the
	// post-processor fails saying to add it (the leftover result file of the
	// earlier runs is not taken for this run's), and dev's tag stays.
	example := filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl")
	tmpl := strings.Replace(readFile(t, example), `provisioner "bakery-test" {}`, "", 1)
	writeFiles(t, filepath.Join(dir, "untested"), map[string]string{"golden-ami.pkr.hcl": tmpl,
		"harden.sh": readFile(t, filepath.Join(root, "examples/golden-ami/harden.sh"))})
	untested := filepath.Join(dir, "untested.yaml")
	writeFiles(t, dir, map[string]string{"untested.yaml": strings.Replace(readFile(t, cfg), example, filepath.Join(dir, "untested", "golden-ami.pkr.hcl"), 1)})
	r = bakery(t, nil, "build", "golden-ami", "--config", untested, "--progress", "quiet")
	if r.code != 3 || !strings.Contains(r.stderr, `add provisioner "bakery-test" {} to the template`) || !strings.Contains(r.stderr, "another packer run") {
		t.Errorf("a template without bakery-test: exit %d, want 3 saying to add the provisioner", r.code)
	}
	if _, after, _ := manifest(t, ns+"/dev/golden-ami", "dev"); after != digest {
		t.Errorf("dev's tag moved from %s to %s after a build without bakery-test", digest, after)
	}
}
