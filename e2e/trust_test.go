//go:build e2e

package e2e

import (
	"encoding/json"

	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// smallProject is a project of FROM-scratch targets (quick to build, a new
// digest whenever release.txt changes) with dev → staging → prod, prod on
// prodRepo (a host:port/path prefix).
func smallProject(t *testing.T, dir, ns, prodRepo string, targets ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for _, tgt := range targets {
		fmt.Fprintf(&b, "  %s:\n    type: container\n    context: app\n", tgt)
	}
	b.WriteString(projectTail(ns, prodRepo))
	writeFiles(t, dir, map[string]string{
		"bakery.yaml":     b.String(),
		"app/Dockerfile":  "FROM scratch\nCOPY release.txt /etc/release.txt\n",
		"app/release.txt": ns + "\n",
	})
	return filepath.Join(dir, "bakery.yaml")
}

// projectTail is the part of an e2e project after its targets: the e2e
// builder id and policy data, registry bounds, and dev and staging on the
// first registry with prod at prodRepo.
func projectTail(ns, prodRepo string) string {
	return fmt.Sprintf(`signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
registry:
  request_timeout: 5s
  max_retry_wait: 10s
environments:
  - name: dev
    repository: %s/%s/dev
    insecure: true
  - name: staging
    repository: %s/%s/staging
    insecure: true
    policies: [signed, sbom, provenance, promoted_through]
  - name: prod
    repository: %s
    insecure: true
    policies: [signed, sbom, provenance, promoted_through]
`, regAddr, ns, regAddr, ns, prodRepo)
}

// rebuild changes the image's content and builds target again: a new digest.
// The content names the project's directory too: builds are reproducible,
// so "app-1" alone made the same digest, and the same signature blobs, in
// every test and every run; under the full suite, cosign copy of such a
// digest between two repositories was then answered DIGEST_INVALID and
// MANIFEST_BLOB_UNKNOWN by Debian's registry (cause not found; each test's
// own digest avoids it).
func rebuild(t *testing.T, cfg, target, content string) string {
	t.Helper()
	writeFiles(t, filepath.Dir(cfg), map[string]string{"app/release.txt": content + " " + filepath.Dir(cfg) + "\n"})
	ref := buildTargets(t, cfg, nil, target)[target]
	return ref[strings.LastIndex(ref, "@")+1:]
}

func statusOf(t *testing.T, cfg, target, env string) map[string]any {
	t.Helper()
	r := bakery(t, nil, "status", "--config", cfg, "-o", "json")
	var st []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status output: %v\n%s", err, r.stdout)
	}
	for _, s := range st {
		if s["target"] == target && s["environment"] == env {
			return s
		}
	}
	t.Fatalf("no status for %s in %s", target, env)
	return nil
}

// findingOf is drift's JSON finding about target in env.
func findingOf(t *testing.T, stdout, target, env string) map[string]any {
	t.Helper()
	var fs []map[string]any
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil {
		t.Fatalf("drift output: %v\n%s", err, stdout)
	}
	for _, f := range fs {
		if f["target"] == target && f["environment"] == env {
			return f
		}
	}
	t.Fatalf("drift names nothing about %s in %s:\n%s", target, env, stdout)
	return nil
}

// cosignCopy is the attacker's stock `cosign copy --force` of src, with its
// signatures and attestations, to dst. cosign pushes an index and its
// platform manifests concurrently, so the registry may refuse the index
// (MANIFEST_BLOB_UNKNOWN) before its child lands; the attacker just runs it
// again, and so does the test (the copy is idempotent).
func cosignCopy(t *testing.T, src, dst string) {
	t.Helper()
	var out []byte
	var err error
	for range 3 {
		out, err = exec.Command(cosign, "copy", "--force", "--allow-http-registry", src, dst).CombinedOutput()
		if err == nil {
			return
		}
		t.Logf("cosign copy %s %s: %v (retrying)", src, dst, err)
	}
	t.Fatalf("cosign copy %s %s: %v\n%s", src, dst, err, out)
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAttackerWithPushRights plays an attacker who can push to every
// repository but prod's, with the stock crane and cosign CLIs, against the
// real registries. Every case is a forgery bakery must refuse.
func TestAttackerWithPushRights(t *testing.T) {
	ns := runID + "-attacker"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod", "app", "other")
	digest := rebuild(t, cfg, "app", "app-1")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote app to staging: exit %d", r.code)
	}
	appStaging := regAddr + "/" + ns + "/staging/app@" + digest
	otherStaging := regAddr + "/" + ns + "/staging/other"

	t.Run("receipts of another target, copied with cosign copy, do not count", func(t *testing.T) {
		cosignCopy(t, appStaging, otherStaging+":staging")
		if _, r := promoteJSONTarget(t, cfg, "other", "--to", "prod"); r.code != 5 || !strings.Contains(r.stderr, "has no receipt for staging") {
			t.Errorf("promote other on app's receipts: exit %d, want 5 (promoted_through)", r.code)
		}
		r := bakery(t, nil, "rollback", "other", "--env", "staging", "--digest", digest, "--config", cfg)
		if r.code != 4 {
			t.Errorf("rollback other to app's digest: exit %d, want 4", r.code)
		}
		if r := bakery(t, nil, "verify", otherStaging+"@"+digest, "--env", "staging", "--config", cfg); r.code != 4 || !strings.Contains(r.stdout, "receipt for other in staging: no") {
			t.Errorf("verify --env staging of other's copy: exit %d, stdout %q; want 4 and no receipt", r.code, r.stdout)
		}
		if r := bakery(t, nil, "verify", appStaging, "--env", "staging", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "receipt for app in staging: yes") {
			t.Errorf("verify --env staging of app: exit %d, stdout %q", r.code, r.stdout)
		}
		if st := statusOf(t, cfg, "other", "staging"); st["receipt"] != false || st["drift"] != true {
			t.Errorf("status of other in staging: %v, want no receipt, drift", st)
		}
		if r := bakery(t, nil, "status", "--check", "--config", cfg); r.code != 4 || !strings.Contains(r.stderr, "other in staging") {
			t.Errorf("status --check: exit %d, want 4 naming other in staging", r.code)
		}
	})

	t.Run("a tag moved by hand with crane is drift, not health", func(t *testing.T) {
		older := rebuild(t, cfg, "app", "app-unpromoted") // signed and attested in dev, never promoted
		run(t, nil, crane, "copy", "--insecure", regAddr+"/"+ns+"/dev/app@"+older, regAddr+"/"+ns+"/staging/app:staging")
		st := statusOf(t, cfg, "app", "staging")
		if st["digest"] != older || st["receipt"] != false || st["drift"] != true || st["expected"] != digest {
			t.Errorf("status after crane moved the tag: %v", st)
		}
		// crane copies the image only: its signature stays in dev, so in
		// staging the digest does not verify at all.
		r := bakery(t, nil, "drift", "--registry-only", "--config", cfg, "-o", "json")
		f := findingOf(t, r.stdout, "app", "staging")
		if r.code != 4 || f["what"] != "unverified" || f["digest"] != older ||
			!strings.HasPrefix(fmt.Sprint(f["fix"]), "bakery rollback app --env staging --digest "+digest) {
			t.Errorf("drift after crane moved the tag: exit %d, finding %v; want 4, unverified and the rollback to %s\n%s", r.code, f, digest, r.stdout)
		}
		// Put it back the bakery way: a rollback to the receipted digest.
		if r := bakery(t, nil, "rollback", "app", "--env", "staging", "--digest", digest, "--config", cfg); r.code != 0 {
			t.Fatalf("rollback: exit %d", r.code)
		}
	})

	t.Run("junk signatures, and a referrer about another digest, are left behind", func(t *testing.T) {
		// The registry has no referrers API: anyone can list any manifest
		// under the digest's fallback tag (sha256-<hex>).
		forged := forgeReferrer(t, appStaging)
		for i := 0; i < 10; i++ {
			run(t, []string{"COSIGN_PASSWORD="}, cosign, "sign", "--key", filepath.Join(keyDir, "other.key"), "--tlog-upload=false",
				"--allow-http-registry", "--yes", "-a", fmt.Sprintf("junk=%d", i), appStaging)
		}
		out, r := promoteJSONTarget(t, cfg, "app", "--to", "prod")
		if r.code != 0 {
			t.Fatalf("promote app to prod: exit %d", r.code)
		}
		cp, _ := out["copy"].(map[string]any)
		left, _ := cp["leftBehind"].([]any)
		if cp["signaturesAdded"] != float64(1) || len(left) != 11 || cp["referrersAdded"] != float64(0) {
			t.Errorf("copy %v: want the one trusted signature carried, the 10 junk ones and the forged referrer left behind", cp)
		}
		if !strings.Contains(fmt.Sprint(left), "referrer "+forged) {
			t.Errorf("left behind %v, want the forged referrer %s", left, forged)
		}
		sigTag := strings.Replace(digest, ":", "-", 1) + ".sig"
		m := run(t, nil, crane, "manifest", "--insecure", registry2+"/"+ns+"/prod/app:"+sigTag)
		if n := strings.Count(m, `"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json"`); n != 1 {
			t.Errorf("prod holds %d signature layers, want 1:\n%s", n, m)
		}
	})
}

// TestKilledPromotionsKeepTheInvariant kills a real `bakery promote` with
// SIGKILL at many points; the prod tag is never on a digest without prod's
// receipt, and re-running converges.
func TestKilledPromotionsKeepTheInvariant(t *testing.T) {
	ns := runID + "-kill"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod-0", "app")
	rebuild(t, cfg, "app", "kill")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote to staging: exit %d", r.code)
	}
	killed := 0
	for i, delay := range []time.Duration{50, 150, 250, 350, 450, 550, 650, 750, 900, 1100, 1400} {
		env := []string{fmt.Sprintf("BAKERY_ENVIRONMENTS_PROD_REPOSITORY=%s/%s/prod-%d", registry2, ns, i)}
		cmd := exec.Command(bin, "promote", "app", "--to", "prod", "--config", cfg)
		cmd.Env = append(append(append(os.Environ(), toolEnv...), signingEnv()...), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			killed++
		}
		_ = cmd.Wait()
		st := bakery(t, env, "status", "--config", cfg, "-o", "json")
		var all []map[string]any
		_ = json.Unmarshal([]byte(st.stdout), &all)
		for _, s := range all {
			if s["environment"] == "prod" && s["digest"] != nil && s["digest"] != "" && s["receipt"] != true {
				t.Errorf("killed after %v: prod's tag is on %v without a receipt", delay*time.Millisecond, s["digest"])
			}
		}
		if r := bakery(t, env, "promote", "app", "--to", "prod", "--config", cfg); r.code != 0 {
			t.Errorf("re-run after a kill at %v: exit %d", delay*time.Millisecond, r.code)
		}
		if r := bakery(t, env, "status", "--check", "--config", cfg); r.code != 0 {
			t.Errorf("after the re-run: status --check exit %d", r.code)
		}
	}
	t.Logf("killed %d promotions with SIGKILL; the invariant held and every re-run converged", killed)
}

// TestRacingRealPromotions races two real bakery processes promoting two
// digests into one environment: never both exit 0 with the tag and the newest
// receipt disagreeing.
func TestRacingRealPromotions(t *testing.T) {
	ns := runID + "-race"
	cfg := smallProject(t, t.TempDir(), ns, registry2+"/"+ns+"/prod", "app")
	for round := 0; round < 3; round++ {
		var digests []string
		for _, v := range []string{"a", "b"} {
			d := rebuild(t, cfg, "app", fmt.Sprintf("race-%d-%s", round, v))
			if r := bakery(t, nil, "promote", "app", "--to", "staging", "--digest", d, "--config", cfg); r.code != 0 {
				t.Fatalf("promote %s to staging: exit %d", d, r.code)
			}
			digests = append(digests, d)
		}
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, d := range digests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = bakery(t, nil, "promote", "app", "--to", "prod", "--digest", d, "--config", cfg).code
			}()
		}
		wg.Wait()
		for _, c := range codes {
			if c != 0 && c != 7 {
				t.Errorf("round %d: exit %d, want 0 or 7 (conflict)", round, c)
			}
		}
		st := statusOf(t, cfg, "app", "prod")
		if codes[0] == 0 && codes[1] == 0 && st["drift"] == true {
			t.Errorf("round %d: both promotions exited 0, yet prod is %v", round, st)
		}
		if st["receipt"] != true {
			t.Errorf("round %d: prod's tag is on a digest without a receipt: %v", round, st)
		}
		t.Logf("round %d: exit codes %v, prod %v (drift %v)", round, codes, st["digest"], st["drift"])
	}
}

// forgeReferrer pushes an artifact whose subject is another image, and lists
// it under ref's fallback referrers tag. It returns the artifact's digest.
func forgeReferrer(t *testing.T, ref string) string {
	t.Helper()
	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := elsewhere.Digest()
	art, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.MediaType(art, types.OCIManifestSchema1)
	art = mutate.ConfigMediaType(art, "application/vnd.example.forged")
	art = mutate.Subject(art, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: ed, Size: 1}).(v1.Image)
	ad, _ := art.Digest()
	if err := remote.Write(d.Context().Digest(ad.String()), art); err != nil {
		t.Fatal(err)
	}
	desc, err := partial.Descriptor(art)
	if err != nil {
		t.Fatal(err)
	}
	desc.ArtifactType = "application/vnd.example.forged"
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: art, Descriptor: *desc})
	fallback := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1))
	if err := remote.WriteIndex(fallback, idx); err != nil {
		t.Fatal(err)
	}
	return ad.String()
}

// TestARegistryThatNeverAnswers: a registry that accepts connections and
// never answers makes the real bakery give up with the unavailable exit code
// within the configured bounds, for verify and for promote.
func TestARegistryThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	ns := runID + "-hang"
	cfg := smallProject(t, t.TempDir(), ns, l.Addr().String()+"/"+ns+"/prod", "app")
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": strings.Replace(readFile(t, cfg),
		"  request_timeout: 5s\n  max_retry_wait: 10s\n", "  request_timeout: 1s\n  attempts: 2\n  max_retry_wait: 1s\n  timeout: 20s\n", 1)})
	start := time.Now()
	r := bakery(t, nil, "verify", "--config", cfg, l.Addr().String()+"/"+ns+"/prod/app:prod")
	if r.code != 6 {
		t.Errorf("verify against a silent registry: exit %d, want 6", r.code)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("verify gave up after %v", took)
	}
	rebuild(t, cfg, "app", "hang")
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "staging"); r.code != 0 {
		t.Fatalf("promote to staging: exit %d", r.code)
	}
	start = time.Now()
	if _, r := promoteJSONTarget(t, cfg, "app", "--to", "prod"); r.code != 6 {
		t.Errorf("promote into a silent registry: exit %d, want 6", r.code)
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("promote gave up after %v, more than registry.timeout allows", took)
	}
}
