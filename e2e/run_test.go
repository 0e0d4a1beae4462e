//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
)

// baseByDigest is the base image's linux/amd64 image and its reference by
// digest, as a build pushes one.
func baseByDigest(t *testing.T) (string, v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(baseImg, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Name() + "@" + desc.Digest.String(), img
}

func testBuilder(t *testing.T, ctx context.Context) *buildkit.Builder {
	t.Helper()
	b, err := buildkit.New(ctx, config.Builder{Address: bkAddr}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

var testPath = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// TestRunnerOnBuildKit runs processes inside the base image's exact digest on
// the real buildkitd through the gateway (issue 22, item 2): output and exit
// codes come back, the network is off unless asked for, a process past its
// limit is killed, a flood of output is cut at the cap, and each container
// is fresh.
func TestRunnerOnBuildKit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, _ := baseByDigest(t)
	b := testBuilder(t, ctx)
	run := func(r imagetest.Runner, network bool, cmds ...imagetest.Command) []imagetest.Output {
		t.Helper()
		ctr, err := r.Start(ctx, network)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ctr.Release(ctx) }()
		var outs []imagetest.Output
		for _, c := range cmds {
			if c.Env == nil {
				c.Env = testPath
			}
			if c.MaxOutput == 0 {
				c.MaxOutput = 1 << 20
			}
			out, err := ctr.Run(ctx, c)
			if err != nil {
				t.Fatalf("%q: %v", c.Args, err)
			}
			outs = append(outs, out)
		}
		return outs
	}
	node, err := b.Test(ctx, image, "linux/amd64", "", "/", func(ctx context.Context, r imagetest.Runner) error {
		o := run(r, false, imagetest.Command{Args: []string{"sh", "-c", "grep ^ID= /etc/os-release; echo oops >&2; exit 3"}})[0]
		if o.ExitCode != 3 || strings.TrimSpace(string(o.Stdout)) != "ID=debian" || strings.TrimSpace(string(o.Stderr)) != "oops" {
			t.Errorf("exit/stdout/stderr: %+v", o)
		}
		if o := run(r, false, imagetest.Command{Args: []string{"ls", "/sys/class/net"}})[0]; strings.TrimSpace(string(o.Stdout)) != "lo" {
			t.Errorf("network off: interfaces %q (exit %d), want only lo", o.Stdout, o.ExitCode)
		}
		if o := run(r, false, imagetest.Command{Args: []string{"sleep", "60"}, Timeout: 2 * time.Second})[0]; !o.TimedOut || o.ExitCode != 137 {
			t.Errorf("sleep 60 with a 2 s limit: %+v, want killed at its limit", o)
		}
		if o := run(r, false, imagetest.Command{Args: []string{"sh", "-c", "yes flood | head -c 5000000"}, MaxOutput: 1000})[0]; o.ExitCode != 0 || !o.Truncated || len(o.Stdout) != 1000 {
			t.Errorf("a 5 MB flood with a 1000 byte cap: exit %d, truncated %v, kept %d bytes", o.ExitCode, o.Truncated, len(o.Stdout))
		}
		outs := run(r, false, imagetest.Command{Args: []string{"sh", "-c", "echo made > /tmp/f"}}, imagetest.Command{Args: []string{"cat", "/tmp/f"}})
		if strings.TrimSpace(string(outs[1].Stdout)) != "made" {
			t.Errorf("two processes in one container: %+v", outs)
		}
		if o := run(r, false, imagetest.Command{Args: []string{"cat", "/tmp/f"}})[0]; o.ExitCode == 0 {
			t.Errorf("a fresh container sees the last one's file: %+v", o)
		}
		return nil
	})
	if err != nil || node == "" {
		t.Fatalf("node %q: %v", node, err)
	}
	if _, err := b.Test(ctx, baseImg, "linux/amd64", "", "/", func(context.Context, imagetest.Runner) error { return nil }); err == nil || !strings.Contains(err.Error(), "not a reference by digest") {
		t.Errorf("a tag: %v, want refused (tests run against the digest)", err)
	}
}

// TestSuiteOnBuildKit runs a container-structure-test suite against the base
// image's digest on the real buildkitd: what passes passes, and each kind of
// test that fails is named in the result.
func TestSuiteOnBuildKit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, img := baseByDigest(t)
	b := testBuilder(t, ctx)
	suite := filepath.Join(t.TempDir(), "base.yaml")
	if err := os.WriteFile(suite, []byte(`schemaVersion: 2.0.0
timeout: 20s
commandTests:
  - name: debian
    command: sh
    args: ["-c", "grep ^ID= /etc/os-release"]
    expectedOutput: ["ID=debian"]
  - name: no curl
    command: sh
    args: ["-c", "test -e /usr/bin/curl"]
    exitCode: 1
  - name: wrong exit
    command: "false"
  - name: hangs
    command: sleep
    args: ["600"]
fileExistenceTests:
  - name: shell
    path: /bin/sh
    shouldExist: true
  - name: no sshd
    path: /usr/sbin/sshd
    shouldExist: false
fileContentTests:
  - name: os-release
    path: /etc/os-release
    expectedContents: ["(?m)^ID=debian$"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := imagetest.Load(suite)
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 3 * time.Second // the hang is killed quickly
	var res imagetest.Result
	started := time.Now()
	node, err := b.Test(ctx, image, "linux/amd64", "", "/", func(ctx context.Context, r imagetest.Runner) error {
		res, err = imagetest.Run(ctx, s, img, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("suite on %s in %s: %s", node, time.Since(started), res.Summary())
	if res.Result != imagetest.Failed {
		t.Errorf("result %s, want FAILED", res.Result)
	}
	for _, want := range []string{"debian", "no curl", "shell", "no sshd", "os-release"} {
		if !contains(res.PassedTests, want) {
			t.Errorf("%q did not pass: %+v", want, res.Bakery.Problems)
		}
	}
	for _, want := range []string{"wrong exit", "hangs"} {
		if !contains(res.FailedTests, want) {
			t.Errorf("%q did not fail: passed %q", want, res.PassedTests)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
