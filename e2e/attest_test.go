//go:build e2e

package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/types"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/attest/sbomtest"
)

// buildExample bakes the example into a fresh namespace and returns the result.
func buildExample(t *testing.T, ns string) buildOutput {
	t.Helper()
	r := bakery(t, exampleEnv(ns),
		"build", "--config", filepath.Join(root, "examples/bakery.yaml"), "--progress", "plain", "-o", "json")
	if r.code != 0 {
		t.Fatalf("bakery build exited %d", r.code)
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// stockCosign runs the stock cosign CLI offline (no transparency log).
func stockCosign(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(cosign, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestStockCosignVerifiesBakeryImages is the security team's check: the
// stock cosign CLI, at the version go.mod pins, verifies bakery's signature
// and all three attestation types on every example image.
func TestStockCosignVerifiesBakeryImages(t *testing.T) {
	out := buildExample(t, runID+"/cosign")
	pub := filepath.Join(keyDir, "trusted.pub")
	for _, tgt := range out.Targets {
		ref := tgt.Repository + "@" + tgt.Digest
		if o, code := stockCosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", ref); code != 0 || !strings.Contains(o, tgt.Digest) {
			t.Errorf("cosign verify %s: exit %d\n%s", ref, code, o)
		}
		for _, typ := range []string{"spdxjson", "cyclonedx", "slsaprovenance1"} {
			o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", typ, ref)
			if code != 0 {
				t.Errorf("cosign verify-attestation --type %s %s: exit %d\n%s", typ, ref, code, o)
			}
			if typ != "slsaprovenance1" {
				if n := checkAttestedSBOMs(t, tgt.Target, o); n != len(tgt.Platforms) {
					t.Errorf("%s: cosign verified %d %s SBOMs, want one per platform (%d)", tgt.Target, n, typ, len(tgt.Platforms))
				}
			}
		}
		// The other key must not verify: the check above can fail.
		if _, code := stockCosign(t, "verify", "--key", filepath.Join(keyDir, "other.pub"), "--insecure-ignore-tlog", ref); code == 0 {
			t.Errorf("cosign verify with an unrelated key passed for %s", ref)
		}
		r := bakery(t, nil, "verify", ref, "-o", "json")
		var rep attest.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.Verified {
			t.Errorf("bakery verify %s: exit %d, %+v (%v)", ref, r.code, rep, err)
		}
		// The suites with a file each example target has (examples/bakery.yaml;
		// the AMI's smoke is external): a test result of each per platform,
		// or one for the golden AMI's record.
		suites := map[string]int{"golden-base": 2, "app": 2, "config-bundle": 2, "golden-ami": 1}
		tests := suites[tgt.Target] * max(1, len(rep.Platforms))
		wantAtts := 2 + 2*len(tgt.Platforms) + tests
		if len(rep.Attestations) != wantAtts {
			t.Errorf("%s: %d attestations, want %d (SPDX+CycloneDX per platform, provenance, build receipt, test results)", tgt.Target, len(rep.Attestations), wantAtts)
		}
		// In text, each SBOM once with its platform, the receipt by
		// environment and action, no predicate URI, and the counts build
		// printed (attestations: SBOMs and provenance; receipts apart).
		text := bakery(t, nil, "verify", ref)
		platforms := []string{""} // a single image (a machine image's record): no platform to name
		if len(rep.Platforms) > 0 {
			platforms = nil
			for _, p := range rep.Platforms {
				platforms = append(platforms, " "+p.Platform)
			}
		}
		for _, p := range platforms {
			for _, typ := range []string{"spdxjson", "cyclonedx"} {
				if n := strings.Count(text.stdout, typ+p+"  "); n != 1 {
					t.Errorf("bakery verify %s lists the %s SBOM of%s %d times, want once:\n%s", ref, typ, p, n, text.stdout)
				}
			}
		}
		counts := fmt.Sprintf("%d attestations, 1 receipt,", 1+2*len(tgt.Platforms))
		if tests > 0 && !strings.Contains(text.stdout, " PASSED") {
			t.Errorf("bakery verify %s does not count its test results:\n%s", ref, text.stdout)
		}
		if !strings.Contains(text.stdout, counts) || !strings.Contains(text.stdout, " build ") || strings.Contains(text.stdout, "https://") {
			t.Errorf("bakery verify %s: want %q, the build receipt by action and no predicate URI:\n%s", ref, counts, text.stdout)
		}
	}
}

// checkAttestedSBOMs runs the official validators (attest/sbomtest) on every
// SBOM in the output of the stock `cosign verify-attestation`: the in-toto
// statements of the DSSE envelopes cosign verified, one JSON per line. It
// also checks that the creator names bakery and the example's organization,
// and the namespace sits under the example's sbom.namespace. It returns how
// many SBOMs it checked.
func checkAttestedSBOMs(t *testing.T, what, cosignOutput string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(cosignOutput, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var env struct {
			Payload []byte `json:"payload"`
		}
		var st struct {
			PredicateType string          `json:"predicateType"`
			Predicate     json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			t.Fatalf("%s: cosign printed %q: %v", what, line, err)
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatalf("%s: the statement cosign verified: %v", what, err)
		}
		n++
		switch st.PredicateType {
		case attest.PredicateSPDX:
			if err := sbomtest.SPDX(st.Predicate); err != nil {
				t.Errorf("%s: the attested SPDX document fails SPDX 2.3: %v", what, err)
			}
			var doc struct {
				Namespace    string `json:"documentNamespace"`
				CreationInfo struct {
					Creators []string `json:"creators"`
				} `json:"creationInfo"`
			}
			if err := json.Unmarshal(st.Predicate, &doc); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(doc.CreationInfo.Creators, "Organization: Example Corp") ||
				!strings.HasPrefix(doc.CreationInfo.Creators[0], "Tool: bakery-") ||
				!strings.HasPrefix(doc.Namespace, "https://sbom.example.com/golden/") {
				t.Errorf("%s: creators %q, namespace %q; want bakery, Example Corp and the example's namespace",
					what, doc.CreationInfo.Creators, doc.Namespace)
			}
		case attest.PredicateCycloneDX:
			if err := sbomtest.CycloneDX(st.Predicate); err != nil {
				t.Errorf("%s: the attested CycloneDX document fails its schema: %v", what, err)
			}
		default:
			t.Errorf("%s: predicate type %s, want an SBOM", what, st.PredicateType)
		}
	}
	return n
}

// TestSBOMMatchesDpkgDatabase checks the golden image's attested SBOM against
// the dpkg database inside the image itself.
func TestSBOMMatchesDpkgDatabase(t *testing.T) {
	out := buildExample(t, runID+"/sbom")
	var golden string
	for _, tgt := range out.Targets {
		if tgt.Target == "golden-base" {
			golden = tgt.Repository + "@" + tgt.Digest
		}
	}
	r := bakery(t, nil, "sbom", golden, "--format", "spdx-json")
	if r.code != 0 {
		t.Fatalf("bakery sbom exited %d", r.code)
	}
	fromSBOM := debPackages(t, r.stdout)
	fromDpkg := dpkgPackages(t, golden)
	if len(fromDpkg) < 50 {
		t.Fatalf("only %d packages in the image's dpkg database", len(fromDpkg))
	}
	if strings.Join(fromSBOM, "\n") != strings.Join(fromDpkg, "\n") {
		t.Errorf("SBOM (%d deb packages) differs from dpkg status (%d):\nSBOM only: %v\ndpkg only: %v",
			len(fromSBOM), len(fromDpkg), minus(fromSBOM, fromDpkg), minus(fromDpkg, fromSBOM))
	}
	table := bakery(t, nil, "sbom", golden, "--format", "table")
	if table.code != 0 || !strings.Contains(table.stdout, "NAME") || strings.Count(table.stdout, "\n") < len(fromDpkg) {
		t.Errorf("table output (exit %d):\n%s", table.code, table.stdout)
	}
}

// dpkgPackages reads var/lib/dpkg/status out of the image's flattened
// filesystem and returns name=version of every installed package.
func dpkgPackages(t *testing.T, ref string) []string {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	plats, err := attest.Platforms(context.Background(), d)
	if err != nil || len(plats) != 1 {
		t.Fatalf("platforms %v: %v", plats, err)
	}
	img, err := remote.Image(plats[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no var/lib/dpkg/status in the image")
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") != "var/lib/dpkg/status" {
			continue
		}
		status, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		return parseDpkgStatus(string(status))
	}
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// tamperProject is a small bakery project whose targets the tamper cases use.
func tamperProject(t *testing.T, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for _, tgt := range targets {
		// Each target is its own image (builds are reproducible: the same
		// inputs would give every target one digest).
		fmt.Fprintf(&b, "  %s:\n    type: container\n    context: app\n    labels: {org.opencontainers.image.title: %s}\n", tgt, tgt)
		if tgt == "platforms" {
			b.WriteString("    platforms: [linux/amd64, linux/arm64]\n")
		}
	}
	fmt.Fprintf(&b, "environments:\n  - name: dev\n    repository: %s/%s/tamper\n    insecure: true\n", regAddr, runID)
	writeFiles(t, dir, map[string]string{
		"bakery.yaml":     b.String(),
		"app/Dockerfile":  "FROM scratch\nCOPY release.txt /etc/release.txt\n",
		"app/release.txt": "golden\n",
	})
	return filepath.Join(dir, "bakery.yaml")
}

func buildTargets(t *testing.T, cfg string, env []string, args ...string) map[string]string {
	t.Helper()
	r := bakery(t, env, append([]string{"build", "--config", cfg, "--progress", "quiet", "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	for _, tgt := range out.Targets {
		refs[tgt.Target] = tgt.Repository + "@" + tgt.Digest
	}
	return refs
}

// TestVerifyRejectsTamperedImages runs `bakery verify` on each tamper case
// against the real registry and expects the verification exit code (4); and
// on junk anyone can push next to a complete set, which is listed as ignored
// and does not block (exit 0), as with the stock cosign CLI.
func TestVerifyRejectsTamperedImages(t *testing.T) {
	ctx := context.Background()
	cfg := tamperProject(t, "unsigned", "otherkey", "subject", "manifest", "claim", "cosignjunk", "platforms", "good")
	unsigned := buildTargets(t, cfg, nil, "unsigned", "--no-attest")
	other := buildTargets(t, cfg, []string{"BAKERY_SIGNING_KEY=" + filepath.Join(keyDir, "other.key"), "BAKERY_SIGNING_PASSWORD="}, "otherkey")
	signed := buildTargets(t, cfg, nil, "subject", "manifest", "claim", "cosignjunk", "platforms", "good")
	signer, err := attest.LoadSigner(ctx, filepath.Join(keyDir, "trusted.key"), []byte(signingPassword))
	if err != nil {
		t.Fatal(err)
	}
	digestOf := func(s string) name.Digest {
		d, err := name.NewDigest(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// An attestation, signed by the trusted key, whose subject is another image.
	subject := digestOf(signed["subject"])
	if err := attesttest.AttachStatement(ctx, signer, subject, attesttest.SPDX(digestOf(signed["good"])), attest.PredicateSPDX, types.IntotoPayloadType); err != nil {
		t.Fatal(err)
	}
	// An attestation whose layer claims SLSA provenance but holds an SPDX statement.
	claim := digestOf(signed["claim"])
	if err := attesttest.AttachStatement(ctx, signer, claim, attesttest.SPDX(claim), attest.PredicateSLSAv1, types.IntotoPayloadType); err != nil {
		t.Fatal(err)
	}
	// An SPDX attestation made with the stock cosign CLI and an untrusted key.
	predicate := filepath.Join(t.TempDir(), "spdx.json")
	writeFiles(t, filepath.Dir(predicate), map[string]string{"spdx.json": `{"spdxVersion":"SPDX-2.3","name":"forged","packages":[]}`})
	junk := exec.Command(cosign, "attest", "--key", filepath.Join(keyDir, "other.key"), "--type", "spdxjson",
		"--predicate", predicate, "--tlog-upload=false", "--yes", signed["cosignjunk"])
	junk.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := junk.CombinedOutput(); err != nil {
		t.Fatalf("cosign attest: %v\n%s", err, out)
	}
	// One platform's SBOM taken out of a two-platform image's attestations.
	platforms := digestOf(signed["platforms"])
	plats, err := attest.Platforms(ctx, platforms)
	if err != nil || len(plats) != 2 {
		t.Fatalf("platforms of %s: %v %v", platforms, plats, err)
	}
	arm := plats[1].Ref.DigestStr()
	if n, err := attesttest.DropAttestations(ctx, platforms, func(pt string, subjects []string) bool {
		return pt == attest.PredicateSPDX && strings.HasSuffix(subjects[len(subjects)-1], "@"+arm)
	}); err != nil || n != 1 {
		t.Fatalf("dropping %s's SPDX: %d, %v", arm, n, err)
	}
	// A manifest changed after signing: the signed index gets an annotation
	// (a new digest), its tag moves there, and its signatures are copied to
	// the new digest's cosign tags, as an attacker would.
	tamperedRef := tamperIndex(t, digestOf(signed["manifest"]))

	for _, tc := range []struct {
		name, ref, want string
	}{
		{"unsigned image", unsigned["unsigned"], "no signature by a trusted key"},
		{"signed with another key", other["otherkey"], "no signature by a trusted key"},
		{"manifest changed after signing", tamperedRef, "no signature by a trusted key"},
		{"one platform's SBOM removed", signed["platforms"], "no verified spdxjson attestation for platform " + plats[1].Platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bakery(t, nil, "verify", tc.ref)
			if r.code != 4 {
				t.Errorf("exit %d, want 4 (verification failed)", r.code)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line containing %q", r.stderr, tc.want)
			}
			if !strings.HasPrefix(r.stdout, "FAILED ") {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	for _, tc := range []struct {
		name, ref, want string
	}{
		{"attestation about another digest", signed["subject"], "not this digest"},
		{"payload type differs from the claimed predicate type", signed["claim"], "claims predicate type"},
		{"stock cosign attestation by an untrusted key", signed["cosignjunk"], "not signed by a trusted key"},
	} {
		t.Run("ignored: "+tc.name, func(t *testing.T) {
			r := bakery(t, nil, "verify", tc.ref)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Verified ") {
				t.Errorf("exit %d, stdout %q: junk next to a complete set must not block", r.code, r.stdout)
			}
			if !strings.Contains(r.stdout, "ignored") || !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q, want the junk listed as ignored with %q", r.stdout, tc.want)
			}
		})
	}
	t.Run("the untampered image passes", func(t *testing.T) {
		if r := bakery(t, nil, "verify", signed["good"]); r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
	})
	t.Run("could not check: registry down, bad reference", func(t *testing.T) {
		if r := bakery(t, nil, "verify", "127.0.0.1:5999/x/y:dev"); r.code != 6 {
			t.Errorf("unreachable registry: exit %d, want 6", r.code)
		}
		if r := bakery(t, nil, "verify", "not a reference"); r.code != 2 {
			t.Errorf("bad reference: exit %d, want 2", r.code)
		}
	})
}

// tamperIndex changes the signed index at orig (a new annotation, so a new
// digest), moves the dev tag to it, and copies orig's cosign signature and
// attestation tags to the new digest. It returns the moved tag.
func tamperIndex(t *testing.T, orig name.Digest) string {
	t.Helper()
	idx, err := remote.Index(orig)
	if err != nil {
		t.Fatal(err)
	}
	changed := mutate.Annotations(idx, map[string]string{"org.opencontainers.image.description": "patched in place"}).(v1.ImageIndex)
	d, err := changed.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag := orig.Context().Tag("dev")
	if err := remote.WriteIndex(tag, changed); err != nil {
		t.Fatal(err)
	}
	cosignTag := func(h string, suffix string) name.Tag {
		return orig.Context().Tag(strings.Replace(h, ":", "-", 1) + suffix)
	}
	for _, suffix := range []string{".sig", ".att"} {
		desc, err := remote.Get(cosignTag(orig.DigestStr(), suffix))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(cosignTag(d.String(), suffix), desc); err != nil {
			t.Fatal(err)
		}
	}
	return tag.String()
}

// TestSecretsNeverAppear builds with a build secret and a password-protected
// key, and checks that neither value reaches output, progress, metadata,
// provenance, or the error of a wrong password.
func TestSecretsNeverAppear(t *testing.T) {
	const buildSecret = "tok-e2e-5ac0e7f1d2"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  secretive:
    type: container
    context: app
    args:
      BASE: %s
    secrets:
      - id: token
        env: E2E_BUILD_TOKEN
environments:
  - name: dev
    repository: %s/%s/secrets
    insecure: true
`, baseImg, regAddr, runID),
		"app/Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN --mount=type=secret,id=token test \"$(wc -c < /run/secrets/token)\" -gt 0 && echo used the token\n",
	})
	cfg := filepath.Join(dir, "bakery.yaml")
	meta := filepath.Join(dir, "build.json")
	r := bakery(t, []string{"E2E_BUILD_TOKEN=" + buildSecret}, "build", "--config", cfg, "--progress", "plain", "-o", "json", "--metadata-file", meta)
	if r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Targets) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	ref := out.Targets[0].Repository + "@" + out.Targets[0].Digest
	inspect := bakery(t, nil, "inspect", ref, "-o", "json")
	if inspect.code != 0 || !strings.Contains(inspect.stdout, `"id": "token"`) {
		t.Errorf("inspect: exit %d; provenance should name the secret by id:\n%s", inspect.code, inspect.stdout)
	}
	metaBytes, _ := os.ReadFile(meta)
	wrong := bakery(t, []string{"BAKERY_SIGNING_PASSWORD=wrong-" + signingPassword, "E2E_BUILD_TOKEN=" + buildSecret}, "build", "--config", cfg, "--progress", "plain")
	if wrong.code != 2 || !strings.Contains(wrong.stderr, "decrypt") {
		t.Errorf("wrong password: exit %d, stderr %q", wrong.code, wrong.stderr)
	}
	for what, text := range map[string]string{
		"build stdout": r.stdout, "build progress": r.stderr, "metadata file": string(metaBytes),
		"inspect (provenance)": inspect.stdout, "wrong-password error": wrong.stdout + wrong.stderr,
	} {
		for _, secret := range []string{buildSecret, signingPassword} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a secret value", what)
			}
		}
	}
}
