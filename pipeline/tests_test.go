package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// fakeRunner runs nothing: a command whose first argument is "false" exits 1,
// anything else exits 0 and prints its arguments.
type fakeRunner struct{ platforms []string }

func (f *fakeRunner) Test(ctx context.Context, image, platform, _, _ string, fn func(context.Context, imagetest.Runner) error) (string, error) {
	f.platforms = append(f.platforms, platform)
	return "node-" + platform, fn(ctx, f)
}

func (f *fakeRunner) Start(context.Context, bool) (imagetest.Container, error) {
	return fakeContainer{}, nil
}

type fakeContainer struct{}

func (fakeContainer) Run(_ context.Context, c imagetest.Command) (imagetest.Output, error) {
	if c.Args[0] == "false" {
		return imagetest.Output{ExitCode: 1}, nil
	}
	return imagetest.Output{Stdout: []byte(strings.Join(c.Args, " ") + "\n")}, nil
}

func (fakeContainer) Release(context.Context) error { return nil }

const passing = `schemaVersion: 2.0.0
commandTests:
  - name: says hello
    command: echo
    args: [hello]
    expectedOutput: ["^echo hello"]
`

// TestTestDigestRecordsEveryPlatform: each suite runs on every platform of
// the index, and each result is attached to the digest as a signed
// test-result attestation naming the index and the platform's image; a
// FAILED suite is a build failure that names the failed test, and its
// result is recorded all the same.
func TestTestDigestRecordsEveryPlatform(t *testing.T) {
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	ref := reg.PushIndex(t, "dev/app", bakerytest.Index(t))
	dir := t.TempDir()
	for name, body := range map[string]string{"pass.yaml": passing, "fail.yaml": strings.Replace(passing, "command: echo", "command: \"false\"", 1)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{Dir: dir}
	tgt := &config.Target{Name: "app", Type: config.TypeContainer, Tests: []config.Test{
		{Name: "pass", File: "pass.yaml"}, {Name: "smoke", External: true}, {Name: "fail", File: "fail.yaml"}}}
	priv, _, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	runner := &fakeRunner{}
	results, err := TestDigest(ctx, cfg, tgt, ref, TestOptions{Runner: runner, Signer: attest.ReadySigner(signer), Environment: "staging"})
	if failure.ClassOf(err) != failure.Build || !strings.Contains(err.Error(), "suite fail FAILED") || !strings.Contains(err.Error(), "says hello") {
		t.Fatalf("err = %v, want a build failure naming suite fail's failed test", err)
	}
	if len(results) != 4 || strings.Join(runner.platforms, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("%d results on %q, want 2 suites x 2 platforms", len(results), runner.platforms)
	}
	for _, r := range results {
		want := imagetest.Passed
		if r.Bakery.Suite == "fail" {
			want = imagetest.Failed
		}
		if r.Result != want || r.Bakery.Target != "app" || r.Bakery.Environment != "staging" || r.Bakery.Runner != "node-"+r.Bakery.Platform {
			t.Errorf("result %+v, want %s bound to app, staging and its node", r.Bakery, want)
		}
	}
	var attached [][]string
	if _, err := attesttest.DropAttestations(ctx, ref, func(pt string, subjects []string) bool {
		if pt == imagetest.PredicateType {
			attached = append(attached, subjects)
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if len(attached) != 4 {
		t.Fatalf("%d test-result attestations, want 4", len(attached))
	}
	for _, s := range attached {
		if len(s) != 2 || s[0] != ref.Context().Name()+"@"+ref.DigestStr() || s[1] == s[0] {
			t.Errorf("subjects %q, want the index and a platform image", s)
		}
	}

	if _, err := TestDigest(ctx, cfg, tgt, ref, TestOptions{Runner: runner, Suites: []string{"smoke"}}); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "--junit") {
		t.Errorf("running an external suite: %v, want a config error pointing at --junit", err)
	}
	if rs, err := TestDigest(ctx, cfg, tgt, ref, TestOptions{Runner: runner, Suites: []string{"pass"}}); err != nil || len(rs) != 2 {
		t.Errorf("one named suite: %d results, %v", len(rs), err)
	}
}

// TestRecordJUnit: an external suite's JUnit report becomes one signed
// result about the whole digest, bound to its environment; a failure in it
// is recorded and reported; a suite bakery runs itself is refused.
func TestRecordJUnit(t *testing.T) {
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	ref := reg.PushIndex(t, "staging/app", bakerytest.Index(t))
	dir := t.TempDir()
	report := filepath.Join(dir, "smoke.xml")
	if err := os.WriteFile(report, []byte(`<testsuite name="smoke"><testcase name="login"/><testcase name="checkout"><failure message="500"/></testcase></testsuite>`), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt := &config.Target{Name: "app", Tests: []config.Test{{Name: "smoke", External: true}, {Name: "pass", File: "pass.yaml"}}}
	priv, _, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RecordJUnit(ctx, tgt, ref, "staging", "smoke", report, signer)
	if failure.ClassOf(err) != failure.Build || !strings.Contains(err.Error(), "checkout") {
		t.Errorf("err = %v, want a build failure naming checkout", err)
	}
	if res.Result != imagetest.Failed || res.Bakery.Environment != "staging" || res.Bakery.Platform != "" || res.Bakery.Runner != imagetest.JUnitRunner {
		t.Errorf("result %+v", res)
	}
	n := 0
	if _, err := attesttest.DropAttestations(ctx, ref, func(pt string, subjects []string) bool {
		if pt == imagetest.PredicateType && len(subjects) == 1 {
			n++
		}
		return false
	}); err != nil || n != 1 {
		t.Errorf("%d test-result attestations about the index alone (%v), want 1", n, err)
	}
	if _, err := RecordJUnit(ctx, tgt, ref, "staging", "pass", report, signer); failure.ClassOf(err) != failure.Config {
		t.Errorf("JUnit for a suite bakery runs: %v, want a config error", err)
	}
}

// TestFileSuitesNeedNoNode: a platform whose suites have no command test is
// judged from the registry alone, with no session on a node (so an
// emulated platform needs no emulator), and its result names no runner.
func TestFileSuitesNeedNoNode(t *testing.T) {
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	ref := reg.PushIndex(t, "dev/bundle", bakerytest.Index(t))
	dir := t.TempDir()
	suite := "schemaVersion: 2.0.0\nfileExistenceTests:\n  - {name: no shell, path: /bin/sh, shouldExist: false}\n"
	if err := os.WriteFile(filepath.Join(dir, "files.yaml"), []byte(suite), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: dir}
	tgt := &config.Target{Name: "bundle", Type: config.TypeContainer, Tests: []config.Test{{Name: "files", File: "files.yaml"}}}
	runner := &fakeRunner{}
	results, err := TestDigest(ctx, cfg, tgt, ref, TestOptions{Runner: runner})
	if err != nil {
		t.Fatal(err)
	}
	if len(runner.platforms) != 0 {
		t.Errorf("a node ran %v, want none", runner.platforms)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want one per platform of the index", len(results))
	}
	for _, r := range results {
		if r.Result != imagetest.Passed || r.Bakery.Platform == "" || r.Bakery.Runner != "" {
			t.Errorf("result %+v, want PASSED with its platform and no runner", r.Bakery)
		}
	}
}

// TestRecordResults: results of suites that ran inside a machine image's
// build are bound to the target, the record's platform and the build run
// (no environment), and attached as test-result attestations about the
// record digest alone; a FAILED one is recorded, then a build failure
// naming the failed test. A packer target's suites are not run by bakery.
func TestRecordResults(t *testing.T) {
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	ref := reg.PushIndex(t, "dev/golden-ami", bakerytest.Index(t))
	priv, _, err := attest.GenerateKeys(filepath.Join(t.TempDir(), "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	tgt := &config.Target{Name: "golden-ami", Type: config.TypePacker, Tests: []config.Test{{Name: "hardening", File: "h.yaml"}, {Name: "network", File: "n.yaml"}}}
	results := []imagetest.Result{
		{Result: imagetest.Passed, PassedTests: []string{"ok"}, Bakery: imagetest.Details{Suite: "hardening", Platform: "linux/arm64", Environment: "x", Runner: "bakery-chroot on host"}},
		{Result: imagetest.Failed, FailedTests: []string{"no sshd"}, Bakery: imagetest.Details{Suite: "network", Problems: []imagetest.Problem{{Test: "no sshd", Verdict: imagetest.Failed, Reason: "/usr/sbin/sshd exists"}}}},
	}
	err = RecordResults(ctx, signer, tgt, ref, "", "linux/amd64", results)
	if failure.ClassOf(err) != failure.Build || !strings.Contains(err.Error(), "no sshd") || strings.Contains(err.Error(), "hardening") {
		t.Errorf("err = %v, want a build failure naming no sshd alone", err)
	}
	for _, r := range results {
		if r.Bakery.Target != "golden-ami" || r.Bakery.Platform != "linux/amd64" || r.Bakery.Environment != "" {
			t.Errorf("result %+v", r.Bakery)
		}
	}
	if results[0].Bakery.Runner != "bakery-chroot on host" {
		t.Errorf("runner %q, want the provisioner's", results[0].Bakery.Runner)
	}
	n := 0
	if _, err := attesttest.DropAttestations(ctx, ref, func(pt string, subjects []string) bool {
		if pt == imagetest.PredicateType && len(subjects) == 1 && strings.HasSuffix(subjects[0], ref.DigestStr()) {
			n++
		}
		return false
	}); err != nil || n != 2 {
		t.Errorf("%d test-result attestations about the record alone (%v), want 2", n, err)
	}
	if _, err := TestDigest(ctx, &config.Config{}, tgt, ref, TestOptions{}); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "bakery build golden-ami") {
		t.Errorf("TestDigest of a packer target: %v, want a config error saying its suites run in the packer build", err)
	}
}
