//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ownRegistry is a distribution registry (Debian's docker-registry) that a
// test starts on its own port and storage, so that it can stop it and run
// the registry's own garbage collection on it.
type ownRegistry struct {
	addr, dir, config string
	cmd               *exec.Cmd
}

// startOwnRegistry starts a registry with deletion on or off.
func startOwnRegistry(t *testing.T, deletion bool) *ownRegistry {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	r := &ownRegistry{addr: addr, dir: filepath.Join(dir, "data"), config: filepath.Join(dir, "config.yml")}
	writeFiles(t, dir, map[string]string{"config.yml": fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %v
http:
  addr: %s
`, r.dir, deletion, addr)})
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *ownRegistry) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("docker-registry", "serve", r.config)
	r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("docker-registry (Debian's distribution registry; make up installs it): %v", err)
	}
	for range 100 {
		if resp, err := httpc.Get("http://" + r.addr + "/v2/"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the registry did not come up on %s", r.addr)
}

func (r *ownRegistry) stop(t *testing.T) {
	t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// bytes is what the registry's storage holds on disk.
func (r *ownRegistry) bytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(r.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// garbageCollect stops the registry, runs its own garbage collection (not
// --delete-untagged: bakery's rollback window is untagged digests) and
// starts it again.
func (r *ownRegistry) garbageCollect(t *testing.T) {
	t.Helper()
	r.stop(t)
	out, err := exec.Command("docker-registry", "garbage-collect", r.config).CombinedOutput()
	if err != nil {
		t.Fatalf("docker-registry garbage-collect: %v\n%s", err, out)
	}
	r.start(t)
}

// gcProject is app (FROM scratch) and multi (two platforms, each copying
// its own file, so that changing one platform's file leaves the other
// platform's manifest as it was) on reg, with a rollback window of 2 and no
// minimum age.
func gcProject(t *testing.T, dir, reg, ns string) string {
	t.Helper()
	writeFiles(t, dir, map[string]string{
		"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  app: {type: container, context: app}
  multi: {type: container, context: multi, platforms: [linux/amd64, linux/arm64]}
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
registry:
  request_timeout: 5s
  max_retry_wait: 10s
retention:
  rollback_window: 2
  min_age: "0"
environments:
  - name: dev
    repository: %[1]s/%[2]s/dev
    insecure: true
  - name: staging
    repository: %[1]s/%[2]s/staging
    insecure: true
    policies: [signed, sbom, provenance, promoted_through]
  - name: prod
    repository: %[1]s/%[2]s/prod
    insecure: true
    policies: [signed, sbom, provenance, promoted_through]
`, reg, ns),
		"app/Dockerfile":   "FROM scratch\nCOPY release.txt pad.bin /etc/\n",
		"app/pad.bin":      padding(256 << 10),
		"multi/Dockerfile": "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /etc/release.txt\n",
		"multi/amd64.txt":  "amd64 " + dir + "\n",
	})
	return filepath.Join(dir, "bakery.yaml")
}

// padding is n random bytes: a layer gzip cannot shrink, so that what gc
// deletes shows on disk.
func padding(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return string(b)
}

// junkImage pushes, with the stock crane CLI, a one-file image that is not
// bakery's to ref.
func junkImage(t *testing.T, ref, content string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "junk.txt", Mode: 0o644, Size: int64(len(content))})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(layer, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, nil, crane, "append", "--insecure", "-f", layer, "-t", ref)
}

// gcPlan is bakery gc -o json, decoded.
type gcPlan struct {
	Plan struct {
		Repositories []struct {
			Target, Environment string
			Keep                []struct{ Digest string }
			Delete              []struct{ Digest, Kind, Subject string }
			AMIs                []struct{ Digest, Region, AMI string }
			Left                []string
		}
		Deletions int
		Bytes     int64
	}
	Deleted int
}

func runGC(t *testing.T, cfg string, args ...string) (gcPlan, result) {
	t.Helper()
	r := bakery(t, nil, append([]string{"gc", "--config", cfg, "-o", "json"}, args...)...)
	var p gcPlan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil && r.code == 0 {
		t.Fatalf("gc output: %v\n%s", err, r.stdout)
	}
	return p, r
}

// deletes lists what plan deletes of target in env: images and indexes,
// platform images, and attachments with the subject they hang on.
func (p gcPlan) deletes(target, env string, kinds ...string) []string {
	var out []string
	for _, r := range p.Plan.Repositories {
		if r.Target != target || r.Environment != env {
			continue
		}
		for _, d := range r.Delete {
			if slices.Contains(kinds, d.Kind) {
				out = append(out, d.Digest)
			}
		}
	}
	slices.Sort(out)
	return out
}

// left is what plan leaves in target's repository of env, and why.
func (p gcPlan) left(target, env string) []string {
	for _, r := range p.Plan.Repositories {
		if r.Target == target && r.Environment == env {
			return r.Left
		}
	}
	return nil
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

var attachmentTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.(sig|att)$`)

// orphans lists, with the stock crane CLI, the .sig and .att tags of repo
// whose subject is not in it.
func orphans(t *testing.T, host, repo string) []string {
	t.Helper()
	var out []string
	for _, tag := range strings.Fields(run(t, nil, crane, "ls", "--insecure", host+"/"+repo)) {
		if m := attachmentTag.FindStringSubmatch(tag); m != nil && headStatus(t, host, repo, "sha256:"+m[1]) != http.StatusOK {
			out = append(out, tag)
		}
	}
	return out
}

// TestGC runs bakery gc on a real distribution registry with deletion on:
// app has ten builds, three promotions and a revocation; multi has three
// two-platform builds whose amd64 image never changes; an attacker left an
// unsigned image, a junk .att for a digest that is not there, and a forged
// .sig tag that points at a kept image. The plan keeps exactly what the
// rules say and deletes nothing; gc --yes killed (SIGKILL) at random
// points, then run again, deletes exactly that, leaves no orphaned .sig or
// .att (crane ls), harms no kept digest (verify, status --check, rollback,
// find, report, history), and the registry's own garbage collection then
// gives the space back.
func TestGC(t *testing.T) {
	reg := startOwnRegistry(t, true)
	ns := runID + "-gc"
	dir := t.TempDir()
	cfg := gcProject(t, dir, reg.addr, ns)
	var b []string
	build := func(n int) {
		for range n {
			b = append(b, rebuild(t, cfg, "app", fmt.Sprintf("gc build %d", len(b)+1)))
		}
	}
	promote := func(env string) {
		if _, r := promoteJSONTarget(t, cfg, "app", "--to", env); r.code != 0 {
			t.Fatalf("promote app to %s: exit %d", env, r.code)
		}
	}
	build(2)
	promote("staging")
	promote("prod")
	build(3)
	promote("staging")
	build(5)
	if r := bakery(t, nil, "revoke", b[6], "--reason", "gc e2e: the evidence stays", "--yes", "--config", cfg); r.code != 0 {
		t.Fatalf("revoke: exit %d", r.code)
	}
	var m []string
	for _, arm := range []string{"x", "y", "z"} {
		writeFiles(t, dir, map[string]string{"multi/arm64.txt": arm + " " + dir + "\n"})
		ref := buildTargets(t, cfg, nil, "multi")["multi"]
		m = append(m, ref[strings.LastIndex(ref, "@")+1:])
	}
	oldArm, shared := platformOf(t, reg.addr, ns+"/dev/multi", m[0], "arm64"), platformOf(t, reg.addr, ns+"/dev/multi", m[0], "amd64")
	if platformOf(t, reg.addr, ns+"/dev/multi", m[2], "amd64") != shared {
		t.Fatal("the amd64 image changed between builds: the test needs it shared")
	}
	devApp := reg.addr + "/" + ns + "/dev/app"
	junkImage(t, devApp+":evil", "not bakery's")
	junkAtt := "sha256-" + strings.Repeat("ab", 32) + ".att"
	junkImage(t, devApp+":"+junkAtt, "a junk attestation")
	forged := "sha256-" + strings.Repeat("cd", 32) + ".sig"
	run(t, nil, crane, "tag", "--insecure", devApp+"@"+b[9], forged)
	evil := strings.TrimSpace(run(t, nil, crane, "digest", "--insecure", devApp+":evil"))
	junkAttDigest := strings.TrimSpace(run(t, nil, crane, "digest", "--insecure", devApp+":"+junkAtt))

	// The plan: exactly what the rules say, and nothing changes.
	plan, r := runGC(t, cfg)
	if r.code != 0 {
		t.Fatalf("gc plan: exit %d", r.code)
	}
	t.Logf("builds %v\nmulti %v\nthe plan:\n%s", b, m, bakery(t, nil, "gc", "-o", "wide", "--config", cfg).stdout)
	wantDev := sorted(b[0], b[2], b[3], b[5], b[7], evil)
	if got := plan.deletes("app", "dev", "image", "index"); !slices.Equal(got, wantDev) {
		t.Errorf("dev deletes %v\nwant builds 1, 3, 4, 6, 8 and the unsigned image: %v", got, wantDev)
	}
	if got := plan.deletes("app", "dev", "orphaned attachments"); !slices.Equal(got, []string{junkAttDigest}) {
		t.Errorf("dev's orphaned attachments %v, want the junk .att %s", got, junkAttDigest)
	}
	for _, env := range []string{"staging", "prod"} {
		if got := plan.deletes("app", env, "image", "index", "platform image"); len(got) != 0 {
			t.Errorf("%s deletes %v: its window and later environments keep everything there", env, got)
		}
	}
	if got := plan.deletes("multi", "dev", "index", "platform image"); !slices.Equal(got, sorted(m[0], oldArm)) {
		t.Errorf("multi deletes %v, want the first index and its arm64 image only (the amd64 one is shared): %v", got, sorted(m[0], oldArm))
	}
	if left := plan.left("app", "dev"); len(left) != 1 || !strings.Contains(left[0], forged) {
		t.Errorf("the plan does not report the forged tag %s it leaves in place (it points at the kept %s): %v", forged, b[9], left)
	}
	if headStatus(t, reg.addr, ns+"/dev/app", b[0]) != http.StatusOK {
		t.Fatal("the plan deleted something")
	}
	before := reg.bytes(t)

	// gc --yes, killed at random points, then run to the end.
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("SIGKILL delays from seed %d", seed)
	remaining := func() int {
		n := 0
		for _, d := range wantDev {
			if headStatus(t, reg.addr, ns+"/dev/app", d) == http.StatusOK {
				n++
			}
		}
		return n
	}
	for i := range 3 {
		// Killed once it has begun deleting (its progress line says so),
		// a random while later.
		delay := time.Duration(rng.Int64N(int64(150*time.Millisecond) * int64(i+1)))
		cmd := exec.Command(bin, "gc", "--yes", "--config", cfg)
		cmd.Env = append(append(os.Environ(), toolEnv...), signingEnv()...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.Contains(sc.Text(), "deleting") {
		}
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		_ = cmd.Wait()
		t.Logf("gc --yes killed %s after it began deleting (run %d): %d of the %d images it deletes in dev are still there", delay, i+1, remaining(), len(wantDev))
	}
	if _, r := runGC(t, cfg, "--yes"); r.code != 0 {
		t.Fatalf("gc --yes after the kills: exit %d", r.code)
	}
	after := reg.bytes(t)
	again, _ := runGC(t, cfg)
	if again.Plan.Deletions != 0 {
		t.Errorf("a gc after gc --yes still deletes %d manifests", again.Plan.Deletions)
	}

	for _, d := range append(wantDev, junkAttDigest) {
		if headStatus(t, reg.addr, ns+"/dev/app", d) != http.StatusNotFound {
			t.Errorf("%s is still in dev", d)
		}
	}
	for _, d := range []string{m[0], oldArm} {
		if headStatus(t, reg.addr, ns+"/dev/multi", d) != http.StatusNotFound {
			t.Errorf("multi's %s is still in dev", d)
		}
	}
	for _, repo := range []string{"dev/app", "staging/app", "prod/app", "dev/multi"} {
		left := slices.DeleteFunc(orphans(t, reg.addr, ns+"/"+repo), func(s string) bool { return s == forged })
		if len(left) != 0 {
			t.Errorf("crane ls %s: .sig/.att tags whose subject is gone: %v", repo, left)
		}
	}
	kept := map[string][]string{"dev": {b[1], b[4], b[6], b[8], b[9]}, "staging": {b[1], b[4]}, "prod": {b[1]}}
	for env, ds := range kept {
		for _, d := range ds {
			if r := bakery(t, nil, "verify", reg.addr+"/"+ns+"/"+env+"/app@"+d, "--env", env, "--config", cfg); r.code != 0 && (d != b[6] || r.code != 4) {
				t.Errorf("verify kept %s in %s: exit %d", d, env, r.code)
			}
		}
	}
	for _, d := range []string{m[1], m[2], shared} {
		if headStatus(t, reg.addr, ns+"/dev/multi", d) != http.StatusOK {
			t.Errorf("multi's kept %s is gone", d)
		}
	}
	checkAfterGC(t, cfg, b)

	// The registry's own garbage collection gives the space back.
	reg.garbageCollect(t)
	collected := reg.bytes(t)
	t.Logf("registry storage: %d bytes before gc, %d after gc --yes, %d after docker-registry garbage-collect (%d freed)",
		before, after, collected, before-collected)
	if collected >= before {
		t.Errorf("garbage-collect freed nothing: %d bytes before, %d after", before, collected)
	}
	for _, ref := range []string{ns + "/dev/app@" + b[9], ns + "/prod/app@" + b[1], ns + "/dev/multi@" + m[2]} {
		run(t, nil, crane, "validate", "--insecure", "--remote", reg.addr+"/"+ref)
	}
	if r := bakery(t, nil, "verify", reg.addr+"/"+ns+"/prod/app@"+b[1], "--env", "prod", "--config", cfg); r.code != 0 {
		t.Errorf("verify prod's digest after the registry's garbage collection: exit %d", r.code)
	}

	// The attacker points dev's gc log tag at the image dev runs (stock
	// crane): gc will neither overwrite that "log" nor delete it as the
	// log's old version, so dev is left alone, saying why.
	run(t, nil, crane, "tag", "--insecure", devApp+"@"+b[9], "bakery-gc")
	b = append(b, rebuild(t, cfg, "app", "gc build 11"))
	forgedLog, r := runGC(t, cfg, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "not a gc log") {
		t.Fatalf("gc --yes with a forged log tag: exit %d\n%s", r.code, r.stderr)
	}
	if left := forgedLog.left("app", "dev"); len(left) == 0 || !strings.Contains(left[len(left)-1], "not a gc log a trusted key signed") {
		t.Errorf("dev's plan does not say why it is left alone: %v", left)
	}
	for _, d := range []string{b[8], b[9], b[10]} {
		if headStatus(t, reg.addr, ns+"/dev/app", d) != http.StatusOK {
			t.Errorf("%s was deleted from dev through a forged gc log tag", d)
		}
	}
}

// checkAfterGC: status, rollback within the window, history (deleted
// digests shown as deleted), find and report all work after gc.
func checkAfterGC(t *testing.T, cfg string, b []string) {
	t.Helper()
	if r := bakery(t, nil, "status", "--check", "--config", cfg); r.code != 0 {
		t.Errorf("status --check after gc: exit %d\n%s", r.code, r.stdout)
	}
	r := bakery(t, nil, "history", "app", "--env", "dev", "--config", cfg, "-o", "json")
	var h []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
		t.Fatalf("history: %v", err)
	}
	deleted := map[string]bool{}
	for _, e := range h {
		if e["deleted"] != nil && e["action"] == "gc delete" {
			deleted[e["digest"].(string)] = true
		}
	}
	for _, d := range []string{b[0], b[2], b[3], b[5], b[7]} {
		if !deleted[d] {
			t.Errorf("history does not list %s as deleted", d)
		}
	}
	if r := bakery(t, nil, "find", "--license", "MIT", "--config", cfg); r.code != 0 {
		t.Errorf("find after gc: exit %d", r.code)
	}
	if r := bakery(t, nil, "report", "--out", t.TempDir(), "--config", cfg); r.code != 0 {
		t.Errorf("report after gc: exit %d", r.code)
	}
	if r := bakery(t, nil, "rollback", "app", "--env", "staging", "--reason", "gc e2e", "--config", cfg); r.code != 0 {
		t.Errorf("rollback within the window after gc: exit %d", r.code)
	}
}

// platformOf is the digest of index's image for arch.
func platformOf(t *testing.T, host, repo, index, arch string) string {
	t.Helper()
	out := run(t, nil, crane, "manifest", "--insecure", host+"/"+repo+"@"+index)
	var idx struct {
		Manifests []struct {
			Digest   string
			Platform struct{ Architecture string }
		}
	}
	if err := json.Unmarshal([]byte(out), &idx); err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Platform.Architecture == arch {
			return m.Digest
		}
	}
	t.Fatalf("%s has no %s image", index, arch)
	return ""
}

// TestGCRegistryRefusesDelete: a registry with deletion off (the
// distribution registry's default) makes gc --yes a config error, one
// line naming the setting, before anything changes.
func TestGCRegistryRefusesDelete(t *testing.T) {
	reg := startOwnRegistry(t, false)
	ns := runID + "-gc-nodelete"
	dir := t.TempDir()
	cfg := gcProject(t, dir, reg.addr, ns)
	junk := reg.addr + "/" + ns + "/dev/app:sha256-" + strings.Repeat("ef", 32) + ".att"
	junkImage(t, junk, "junk")
	r := bakery(t, nil, "gc", "--yes", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 2 || !strings.Contains(r.stderr, "storage.delete.enabled") || !strings.Contains(r.stderr, reg.addr) {
		t.Fatalf("gc --yes on a registry that refuses DELETE: exit %d\n%s", r.code, r.stderr)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "storage.delete.enabled") {
		t.Errorf("the error is not one line naming the setting: %q", last)
	}
	if code, _ := headManifest(t, reg.addr, ns+"/dev/app", "bakery-gc"); code != http.StatusNotFound {
		t.Error("a refused gc wrote its log")
	}
}

// TestGCMachineImages: of three golden AMI builds, the first (promoted to
// prod, then replaced there by the second) goes with a window of one: its
// records in dev and prod, and its AMIs in both environments, deregistered
// on the local EC2 endpoint with their snapshots deleted; the AMIs of the
// kept builds stay.
func TestGCMachineImages(t *testing.T) {
	ns := runID + "-gc-ami"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  golden-ami:
    type: packer
    template: %s
    variables: {source_rootfs: %s}
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
retention:
  rollback_window: 1
  min_age: "0"
environments:
  - name: dev
    repository: %s/%s/dev
  - name: prod
    repository: %s/%s/prod
    policies: [signed, provenance]
    aws:
      regions: [us-east-1]
      accounts: ["444455556666"]
`, filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl"), rootfs, regAddr, ns, regAddr, ns)})
	cfg := filepath.Join(dir, "bakery.yaml")
	var builds []string
	amis := map[string][]string{} // digest → its AMIs in dev and prod
	for i := range 3 {
		d := buildAMI(t, cfg)
		builds = append(builds, d)
		if i < 2 {
			res, r := promoteJSONTarget(t, cfg, "golden-ami", "--to", "prod")
			if r.code != 0 {
				t.Fatalf("promote build %d: exit %d", i+1, r.code)
			}
			b, _ := json.Marshal(res["amis"])
			var prod map[string]string
			_ = json.Unmarshal(b, &prod)
			if prod["us-east-1"] == "" {
				t.Fatalf("promotion %d recorded no prod AMI: %s", i+1, b)
			}
			amis[d] = append(amis[d], prod["us-east-1"])
		}
	}
	for _, d := range builds { // the AMIs packer built, as the record has them
		var rec struct{ AMIs map[string]string }
		if err := json.Unmarshal([]byte(run(t, nil, crane, "config", "--insecure", regAddr+"/"+ns+"/dev/golden-ami@"+d)), &rec); err != nil || rec.AMIs["us-east-1"] == "" {
			t.Fatalf("record of %s: %v %v", d, rec.AMIs, err)
		}
		amis[d] = append(amis[d], rec.AMIs["us-east-1"])
	}
	plan, r := runGC(t, cfg, "--yes")
	if r.code != 0 {
		t.Fatalf("gc --yes: exit %d", r.code)
	}
	var gone []string
	for _, rp := range plan.Plan.Repositories {
		for _, a := range rp.AMIs {
			if a.Digest != builds[0] {
				t.Errorf("gc deregisters %s of %s, a kept build", a.AMI, a.Digest)
			}
			gone = append(gone, a.AMI)
		}
	}
	slices.Sort(gone)
	if want := sorted(amis[builds[0]]...); !slices.Equal(gone, want) {
		t.Fatalf("gc deregisters %v, want the first build's prod and dev AMIs %v", gone, want)
	}
	for _, id := range gone {
		if _, ok := ec2.Image("us-east-1", id); ok {
			t.Errorf("%s is still registered", id)
		}
		for _, s := range ec2.Snapshots("us-east-1") {
			if strings.Contains(s.Description, id) {
				t.Errorf("snapshot %s of %s is still there", s.ID, id)
			}
		}
	}
	for _, d := range builds[1:] {
		for _, id := range amis[d] {
			if _, ok := ec2.Image("us-east-1", id); !ok {
				t.Errorf("%s of the kept %s was deregistered", id, d)
			}
		}
	}
	for _, env := range []string{"dev", "prod"} {
		if code := headStatus(t, regAddr, ns+"/"+env+"/golden-ami", builds[0]); code != http.StatusNotFound {
			t.Errorf("the first build's record is still in %s (%d)", env, code)
		}
	}
	if r := bakery(t, nil, "status", "--check", "--config", cfg); r.code != 0 {
		t.Errorf("status --check after gc: exit %d", r.code)
	}
}
