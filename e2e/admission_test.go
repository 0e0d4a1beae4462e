//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// admissionTool is one admission controller's stock CLI, judging an image
// the way the cluster would, against the real registry: admit runs it on
// policy file and image (in a Pod, for the tools that read one) and
// returns whether it admitted and what it said.
type admissionTool struct {
	format string
	admit  func(t *testing.T, policy, image string) (bool, string)
}

// policyTester is policy-controller's own tester (cmd/tester): it verifies
// image against the ClusterImagePolicy, with the Pod as the spec the
// policy's includeSpec sees, and denies an image no policy matches.
func policyTester(t *testing.T, dir string) admissionTool {
	bin := getenv("BAKERY_POLICY_TESTER", filepath.Join(root, ".bakery/policy-tester"))
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("policy-controller's policy-tester is missing at %s: run `make up` first", bin)
	}
	return admissionTool{format: "policy-controller", admit: func(t *testing.T, policy, image string) (bool, string) {
		t.Helper()
		pod := podManifest(t, dir, image)
		// The tester reads the registry with the default keychain: keep
		// the machine's docker config out of it.
		cmd := exec.Command(bin, "-policy", policy, "-image", image, "-resource", pod, "-log-level", "warn")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("policy-tester: %v", err)
		}
		return err == nil, string(out)
	}}
}

// kyvernoCLI is the Kyverno CLI's apply of the ClusterPolicy to a Pod that
// runs image, reading the real registry.
func kyvernoCLI(t *testing.T, dir string) admissionTool {
	bin := getenv("BAKERY_KYVERNO", filepath.Join(root, ".bakery/kyverno"))
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Kyverno CLI is missing at %s: run `make up` first", bin)
	}
	return admissionTool{format: "kyverno", admit: func(t *testing.T, policy, image string) (bool, string) {
		t.Helper()
		pod := podManifest(t, dir, image)
		cmd := exec.Command(bin, "apply", policy, "--resource", pod, "--registry", "--detailed-results")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("kyverno: %v", err)
		}
		// kyverno apply exits non-zero on a failed rule; its summary line
		// says so too, and an error (no rule ran) must not read as a pass.
		admitted := err == nil && strings.Contains(string(out), "fail: 0") && strings.Contains(string(out), "error: 0") &&
			!strings.Contains(string(out), "pass: 0,")
		return admitted, string(out)
	}}
}

func podManifest(t *testing.T, dir, image string) string {
	t.Helper()
	p := filepath.Join(dir, "pod.yaml")
	writeFiles(t, dir, map[string]string{"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: default\n" +
		"spec:\n  containers:\n    - name: app\n      image: " + image + "\n"})
	return p
}

// forgeReceipt attaches, with the stock cosign CLI, a receipt-shaped
// attestation to image, signed by key (password pw).
func forgeReceipt(t *testing.T, dir, image, key, pw string, vsa map[string]any) {
	t.Helper()
	b, _ := json.Marshal(vsa)
	pred := filepath.Join(dir, "vsa.json")
	if err := os.WriteFile(pred, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, []string{"COSIGN_PASSWORD=" + pw}, cosign, "attest", "--key", key, "--type", "https://slsa.dev/verification_summary/v1",
		"--predicate", pred, "--tlog-upload=false", "--allow-http-registry", "--yes", image)
}

// TestAdmissionWithTheRealTools writes prod's admission policies and has
// policy-controller's policy-tester and the Kyverno CLI judge real images
// in the real registry: the digest receipted in prod is admitted; one
// receipted only in staging (from staging's repository, or copied into
// prod's), one unsigned, one carrying another target's receipt, forged
// receipts (another repository, signed by the trusted key; a perfect one
// signed by an untrusted key), a revoked one and a tag are refused. A
// revocation reaches the policy files through revoke --write-admission.
func TestAdmissionWithTheRealTools(t *testing.T) {
	ns := runID + "-admission"
	dir := t.TempDir()
	prodRepo := regAddr + "/" + ns + "/prod"
	cfg := smallProject(t, dir, ns, prodRepo, "app", "other")
	prodApp := prodRepo + "/app"
	stagingApp := regAddr + "/" + ns + "/staging/app"
	devApp := regAddr + "/" + ns + "/dev/app"

	inProd := rebuild(t, cfg, "app", "admitted")
	for _, env := range []string{"staging", "prod"} {
		if _, r := promoteJSONTarget(t, cfg, "app", "--to", env); r.code != 0 {
			t.Fatalf("promote app to %s: exit %d", env, r.code)
		}
	}
	inStaging := rebuild(t, cfg, "app", "staging only")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote app to staging: exit %d", r.code)
	}
	devOnly := rebuild(t, cfg, "app", "never promoted")
	other := rebuild(t, cfg, "other", "other target")
	for _, env := range []string{"staging", "prod"} {
		if _, r := promoteJSONTarget(t, cfg, "other", "--to", env); r.code != 0 {
			t.Fatalf("promote other to %s: exit %d", env, r.code)
		}
	}

	// What an admin with push rights to prod (or a promotion stopped after
	// its copy) leaves in prod's repository without a prod receipt.
	cosignCopy(t, stagingApp+"@"+inStaging, prodApp+":halfway")
	run(t, nil, crane, "copy", "--insecure", devApp+"@"+devOnly, prodApp+":unsigned")
	cosignCopy(t, prodRepo+"/other@"+other, prodApp+":other-target")
	forged := func(uri string) map[string]any {
		return map[string]any{
			"verifier": map[string]any{"id": "https://github.com/bakeryhq/bakery"}, "timeVerified": "2026-12-01T00:00:00Z",
			"resourceUri": uri, "policy": map[string]any{"uri": "bakery:policies/prod"}, "verificationResult": "PASSED",
			"verifiedLevels": []string{"SLSA_BUILD_LEVEL_1"}, "slsaVersion": "1.0",
			"bakery": map[string]any{"action": "promote", "target": "app", "environment": "prod"},
		}
	}
	// A receipt for prod naming staging's repository, signed by the trusted
	// key; a flawless one signed by a key nobody trusts.
	forgeReceipt(t, dir, prodApp+"@"+inStaging, filepath.Join(keyDir, "trusted.key"), signingPassword, forged(stagingApp+"@"+inStaging))
	forgeReceipt(t, dir, prodApp+"@"+devOnly, filepath.Join(keyDir, "other.key"), "", forged(prodApp+"@"+devOnly))
	// And a receipt naming prod's repository, signed by the trusted key,
	// but for another environment.
	staging := forged(prodApp + "@" + inStaging)
	staging["bakery"] = map[string]any{"action": "promote", "target": "app", "environment": "staging"}
	forgeReceipt(t, dir, prodApp+"@"+inStaging, filepath.Join(keyDir, "trusted.key"), signingPassword, staging)

	out := filepath.Join(dir, "admission")
	r := bakery(t, nil, "admission", "--env", "prod", "--out", out, "--config", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("bakery admission: exit %d", r.code)
	}
	var files []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &files); err != nil || len(files) != 2 || files[0]["changed"] != true {
		t.Fatalf("admission -o json: %v\n%s", err, r.stdout)
	}
	if again := bakery(t, nil, "admission", "--env", "prod", "--out", out, "--config", cfg); again.code != 0 || strings.Count(again.stdout, " unchanged ") != 2 {
		t.Errorf("admission again: exit %d, want both files unchanged:\n%s", again.code, again.stdout)
	}

	// Each refusal for its own reason: policy-controller says which check of
	// bakery's Rego failed (or that no signature verified); Kyverno's
	// admitted-digests rule refuses all of them.
	const notListed = "only a digest with a bakery receipt for prod"
	refused := []struct{ what, image, pc, kyverno string }{
		{"receipted only in staging, from staging's repository", stagingApp + "@" + inStaging, "it is a receipt for environment staging, not prod", notListed},
		{"receipted only in staging, copied into prod's (with forged receipts)", prodApp + "@" + inStaging, "bakery receipt refused", notListed},
		{"unsigned (a flawless receipt by an untrusted key)", prodApp + "@" + devOnly, "no matching attestations", notListed},
		{"with another target's receipt", prodApp + "@" + other, "it is a receipt for target other, not app", notListed},
		{"by tag", prodApp + ":prod", "name the image by digest", notListed},
	}
	for _, tool := range []admissionTool{policyTester(t, dir), kyvernoCLI(t, dir)} {
		policy := filepath.Join(out, "prod-"+tool.format+".yaml")
		t.Run(tool.format, func(t *testing.T) {
			if ok, said := tool.admit(t, policy, prodApp+"@"+inProd); !ok {
				t.Errorf("the digest receipted in prod was refused:\n%s", said)
			}
			for _, c := range refused {
				ok, said := tool.admit(t, policy, c.image)
				want := c.pc
				if tool.format == "kyverno" {
					want = c.kyverno
				}
				if ok || !strings.Contains(said, want) {
					t.Errorf("%s (%s): admitted %v, want refused saying %q:\n%s", c.what, c.image, ok, want, said)
				}
				t.Logf("refused, %s: %s", c.what, said)
			}
		})
	}

	// Revoke the admitted digest: revoke rewrites the files, and both
	// tools refuse it; restored, it is admitted again.
	r = bakery(t, nil, "revoke", inProd, "--reason", "e2e: admission", "--write-admission", out, "--config", cfg)
	if r.code != 0 || strings.Count(r.stdout, "admission policy rewritten") < 2 {
		t.Fatalf("revoke --write-admission: exit %d, want prod's two files rewritten:\n%s", r.code, r.stdout)
	}
	if !strings.Contains(readFile(t, filepath.Join(out, "prod-policy-controller.yaml")), inProd) {
		t.Error("the policy-controller policy does not name the revoked digest")
	}
	for _, tool := range []admissionTool{policyTester(t, dir), kyvernoCLI(t, dir)} {
		if ok, said := tool.admit(t, filepath.Join(out, "prod-"+tool.format+".yaml"), prodApp+"@"+inProd); ok {
			t.Errorf("%s admitted a revoked digest:\n%s", tool.format, said)
		}
	}
	r = bakery(t, nil, "revoke", inProd, "--restore", "--reason", "e2e: restored", "--write-admission", out, "--config", cfg)
	if r.code != 0 {
		t.Fatalf("revoke --restore: exit %d", r.code)
	}
	for _, tool := range []admissionTool{policyTester(t, dir), kyvernoCLI(t, dir)} {
		if ok, said := tool.admit(t, filepath.Join(out, "prod-"+tool.format+".yaml"), prodApp+"@"+inProd); !ok {
			t.Errorf("%s refused a restored digest:\n%s", tool.format, said)
		}
	}

	// A new digest promoted into prod with --write-admission is admitted
	// by both at once: Kyverno's list of receipted digests was rewritten.
	next := rebuild(t, cfg, "app", "next release")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote app to staging: exit %d", r.code)
	}
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "prod", "--write-admission", out); r.code != 0 ||
		!strings.Contains(r.stderr, "prod-kyverno.yaml: admission policy rewritten") {
		t.Fatalf("promote --write-admission: exit %d, want prod's Kyverno policy rewritten:\n%s", r.code, r.stderr)
	}
	for _, tool := range []admissionTool{policyTester(t, dir), kyvernoCLI(t, dir)} {
		if ok, said := tool.admit(t, filepath.Join(out, "prod-"+tool.format+".yaml"), prodApp+"@"+next); !ok {
			t.Errorf("%s refused the digest just promoted with --write-admission:\n%s", tool.format, said)
		}
	}
}
