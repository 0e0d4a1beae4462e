//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// reproProject is a golden base, an app on it by target:base, and a target
// whose build step writes the time (not reproducible without the cache).
func reproProject(t *testing.T, ns, devRepo string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 1
targets:
  base:
    type: container
    context: base
    args:
      BASE: %s
  app:
    type: container
    context: app
    args:
      BASE: target:base
  stamp:
    type: container
    context: stamp
    args:
      BASE: %s
`, baseImg, baseImg) + projectTail(ns, registry2+"/"+ns+"/prod")
	cfg = strings.Replace(cfg, regAddr+"/"+ns+"/dev", devRepo, 1)
	writeFiles(t, dir, map[string]string{
		"bakery.yaml":      cfg,
		"base/Dockerfile":  "ARG BASE\nFROM ${BASE}\nRUN mkdir -p /srv/base && echo golden > /srv/base/release\nCOPY motd /etc/motd\n",
		"base/motd":        "golden base\n",
		"app/Dockerfile":   "ARG BASE\nFROM ${BASE}\nCOPY app.txt /srv/app.txt\n",
		"app/app.txt":      "app\n",
		"stamp/Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN date +%s%N > /stamp\n",
	})
	return filepath.Join(dir, "bakery.yaml")
}

// buildJSON runs bakery build -o json and decodes it.
func buildJSON(t *testing.T, cfg string, env []string, args ...string) (buildOutput, result) {
	t.Helper()
	r := bakery(t, env, append([]string{"build", "--config", cfg, "--progress", "quiet", "-o", "json"}, args...)...)
	var out buildOutput
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("build -o json: %v\n%s", err, r.stdout)
		}
	}
	return out, r
}

// recordedBase is the digest app's provenance in dev records for image.
func recordedBase(t *testing.T, cfg, target, image string) string {
	t.Helper()
	r := bakery(t, nil, "outdated", target, "--config", cfg, "-o", "json")
	var bases []struct {
		Environment, Image, Recorded string
		Stale                        bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &bases); err != nil {
		t.Fatalf("outdated %s: exit %d (%v)\n%s", target, r.code, err, r.stdout)
	}
	for _, b := range bases {
		if b.Environment == "dev" && b.Image == image {
			return b.Recorded
		}
	}
	t.Fatalf("outdated %s names no base %s: %+v", target, image, bases)
	return ""
}

// TestSameInputsSameDigest: rebuilding unchanged inputs gives the same
// digest, says "unchanged" and moves nothing; the index holds only the
// image (no BuildKit attestation manifest); SOURCE_DATE_EPOCH stamps the
// image; rebuild --verify reproduces a digest from its provenance, with and
// without the cache, and says so when it cannot.
func TestSameInputsSameDigest(t *testing.T) {
	ns := runID + "-repro"
	cfg := reproProject(t, ns, regAddr+"/"+ns+"/dev")
	first, r := buildJSON(t, cfg, nil)
	if r.code != 0 {
		t.Fatalf("first build: exit %d", r.code)
	}
	digests := map[string]string{}
	for _, b := range first.Targets {
		digests[b.Target] = b.Digest
	}
	if got := recordedBase(t, cfg, "app", regAddr+"/"+ns+"/dev/base:dev"); got != digests["base"] {
		t.Errorf("app's provenance records base %s, want the digest built in the same run %s", got, digests["base"])
	}
	body, _, _ := manifest(t, ns+"/dev/base", digests["base"])
	var idx struct {
		MediaType string
		Manifests []struct{ Annotations map[string]string }
	}
	if err := json.Unmarshal(body, &idx); err != nil || len(idx.Manifests) != 1 || len(idx.Manifests[0].Annotations) != 0 {
		t.Errorf("base's index should hold the image alone, no attestation manifest of BuildKit's: %s", body)
	}

	again, r := buildJSON(t, cfg, nil, "base", "app")
	if r.code != 0 || len(again.Targets) != 2 {
		t.Fatalf("second build: exit %d", r.code)
	}
	for _, b := range again.Targets {
		if b.Digest != digests[b.Target] || !b.Unchanged {
			t.Errorf("%s rebuilt unchanged: digest %s (was %s), unchanged=%v", b.Target, b.Digest, digests[b.Target], b.Unchanged)
		}
	}
	if r := bakery(t, nil, "build", "base", "--config", cfg, "--progress", "quiet"); r.code != 0 || !strings.Contains(r.stdout, "unchanged") {
		t.Errorf("text output of an unchanged build: exit %d\n%s", r.code, r.stdout)
	}
	if r := bakery(t, nil, "outdated", "--check", "--config", cfg); r.code != 0 {
		t.Errorf("outdated --check after an unchanged rebuild: exit %d, want 0\n%s", r.code, r.stdout)
	}
	checkRebuildVerify(t, cfg, ns, digests)

	// SOURCE_DATE_EPOCH stamps the image; app built alone takes the base
	// digest dev holds now.
	stamped, r := buildJSON(t, cfg, []string{"SOURCE_DATE_EPOCH=1700000000"}, "base")
	if r.code != 0 || stamped.Targets[0].Digest == digests["base"] {
		t.Fatalf("build with SOURCE_DATE_EPOCH: exit %d, digest %v", r.code, stamped.Targets)
	}
	var cfgBlob struct{ Created string }
	body, _, _ = manifest(t, ns+"/dev/base", stamped.Targets[0].Digest)
	var ix struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(body, &ix); err != nil || len(ix.Manifests) != 1 {
		t.Fatalf("stamped index: %s", body)
	}
	img, _, _ := manifest(t, ns+"/dev/base", ix.Manifests[0].Digest)
	var m struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(img, &m); err != nil {
		t.Fatal(err)
	}
	blob(t, ns+"/dev/base", m.Config.Digest, &cfgBlob)
	if cfgBlob.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("image created %q, want SOURCE_DATE_EPOCH's 2023-11-14T22:13:20Z", cfgBlob.Created)
	}
	if _, r := buildJSON(t, cfg, nil, "app"); r.code != 0 {
		t.Fatalf("build app alone: exit %d", r.code)
	}
	if got := recordedBase(t, cfg, "app", regAddr+"/"+ns+"/dev/base:dev"); got != stamped.Targets[0].Digest {
		t.Errorf("app built alone records base %s, want what dev holds, %s", got, stamped.Targets[0].Digest)
	}
}

// checkRebuildVerify: the app is reproduced from its provenance with the
// cache, the base without it; the stamp target is not reproduced without
// the cache (exit 4); a changed local input is named, not rebuilt.
func checkRebuildVerify(t *testing.T, cfg, ns string, digests map[string]string) {
	t.Helper()
	ref := func(target string) string { return regAddr + "/" + ns + "/dev/" + target + "@" + digests[target] }
	if r := bakery(t, nil, "rebuild", "--verify", ref("app"), "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "REPRODUCED "+digests["app"]) {
		t.Errorf("rebuild --verify app: exit %d\n%s", r.code, r.stdout)
	}
	r := bakery(t, nil, "rebuild", "--verify", ref("base"), "--no-cache", "--config", cfg, "-o", "json", "--progress", "quiet")
	var rep struct {
		Reproduced bool
		Rebuilt    string
		NoCache    bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.Reproduced || !rep.NoCache || rep.Rebuilt != digests["base"] {
		t.Errorf("rebuild --verify --no-cache base: exit %d %+v (%v)\n%s", r.code, rep, err, r.stdout)
	}
	if r := bakery(t, nil, "rebuild", "--verify", ref("stamp"), "--no-cache", "--config", cfg); r.code != 4 || !strings.Contains(r.stdout, "DIFFERS") {
		t.Errorf("rebuild --verify --no-cache of a step that writes the time: exit %d, want 4 DIFFERS\n%s", r.code, r.stdout)
	}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"app/app.txt": "changed\n"})
	if r := bakery(t, nil, "rebuild", "--verify", ref("app"), "--config", cfg); r.code != 4 || !strings.Contains(r.stdout, "context directory") {
		t.Errorf("rebuild --verify with a changed context: exit %d, want 4 naming it\n%s", r.code, r.stdout)
	}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"app/app.txt": "app\n"})
	if r := bakery(t, nil, "rebuild", ref("app"), "--config", cfg); r.code != 2 {
		t.Errorf("rebuild without --verify: exit %d, want 2", r.code)
	}
}

// TestRenamedRepositoryFollowsTheTarget: a copy of a project whose dev
// repository was renamed builds its app on its own base (target:base), not
// on the old repository's; built alone before its base exists there, the
// app is refused naming the fix. Spelling the old repository by hand is a
// warning, and an arg naming an unknown target is a config error.
func TestRenamedRepositoryFollowsTheTarget(t *testing.T) {
	ns := runID + "-renamed"
	old := reproProject(t, ns, regAddr+"/"+ns+"/olddev")
	oldOut, r := buildJSON(t, old, nil, "base")
	if r.code != 0 {
		t.Fatalf("build in the old repository: exit %d", r.code)
	}
	cfg := reproProject(t, ns, regAddr+"/"+ns+"/dev")
	writeFiles(t, filepath.Dir(cfg), map[string]string{"base/motd": "the copy's own base\n"})
	r = bakery(t, nil, "build", "app", "--config", cfg, "--progress", "quiet")
	if r.code != 2 || !strings.Contains(r.stderr, "dev holds no digest of base") || !strings.Contains(r.stderr, "bakery build base app") {
		t.Errorf("app alone with no base in the renamed dev: exit %d, want 2 naming the fix\n%s", r.code, r.stderr)
	}
	out, r := buildJSON(t, cfg, nil, "base", "app")
	if r.code != 0 {
		t.Fatalf("build base and app: exit %d", r.code)
	}
	base := out.Targets[0].Digest
	if base == oldOut.Targets[0].Digest {
		t.Fatal("the copy's base should differ from the old one")
	}
	if got := recordedBase(t, cfg, "app", regAddr+"/"+ns+"/dev/base:dev"); got != base {
		t.Errorf("app records base %s, want the copy's own %s", got, base)
	}

	hard := strings.Replace(readFile(t, cfg), "BASE: target:base", "BASE: "+regAddr+"/"+ns+"/olddev/base:dev", 1)
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": hard})
	r = bakery(t, nil, "build", "app", "--config", cfg, "--progress", "quiet", "--no-attest")
	if !strings.Contains(r.stderr, "WARNING: targets.app.args.BASE names a repository called base outside this config's environments") ||
		!strings.Contains(r.stderr, "BASE: target:base") {
		t.Errorf("a hard-coded reference to another repository's base gives no warning:\n%s", r.stderr)
	}
	bad := strings.Replace(readFile(t, cfg), "BASE: "+regAddr+"/"+ns+"/olddev/base:dev", "BASE: target:nope", 1)
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": bad})
	if r := bakery(t, nil, "build", "app", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, `no target named "nope"`) {
		t.Errorf("target:nope: exit %d, want 2\n%s", r.code, r.stderr)
	}
}
