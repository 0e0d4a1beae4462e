package machinetest

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/env"
)

// shellComm is a communicator whose machine is this one: it runs each
// command with /bin/sh as bakery-chroot's communicator runs it in the
// chroot, standard input, output and error wired the same way.
type shellComm struct{ started []string }

func (c *shellComm) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	c.started = append(c.started, cmd.Command)
	local := exec.Command("/bin/sh", "-c", cmd.Command)
	local.Stdin, local.Stdout, local.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if err := local.Start(); err != nil {
		return err
	}
	go func() {
		status := 0
		var exit *exec.ExitError
		if err := local.Wait(); errors.As(err, &exit) {
			status = exit.Sys().(syscall.WaitStatus).ExitStatus()
		}
		cmd.SetExited(status)
	}()
	return nil
}

func (*shellComm) Upload(string, io.Reader, *os.FileInfo) error {
	return errors.New("not used")
}

func (*shellComm) UploadDir(string, string, []string) error { return errors.New("not used") }

func (*shellComm) Download(string, io.Writer) error {
	return errors.New("not used")
}

func (*shellComm) DownloadDir(string, string, []string) error { return errors.New("not used") }

func parse(t *testing.T, body string) *imagetest.Suite {
	t.Helper()
	s, err := imagetest.Parse("suite.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "suite"
	return s
}

// run runs suite body on this machine as bakery-test runs it on the
// machine being built.
func run(t *testing.T, body string, m *Machine) imagetest.Result {
	t.Helper()
	s := parse(t, body)
	comm := m.Comm
	img, err := Filesystem(context.Background(), comm, s, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	res, err := imagetest.Run(context.Background(), s, img, m)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func problem(r imagetest.Result, test string) string {
	for _, p := range r.Bakery.Problems {
		if p.Test == test {
			return p.Reason
		}
	}
	return ""
}

// TestCommandsRunOnTheMachine: arguments reach the command as written
// (nothing expanded by a shell on the way, quotes kept), the suite's
// variables are set, the exit code and output are checked.
func TestCommandsRunOnTheMachine(t *testing.T) {
	m := &Machine{Comm: &shellComm{}, Unshare: true}
	res := run(t, `schemaVersion: 2.0.0
globalEnvVars: [{key: GREETING, value: hello}]
commandTests:
  - name: literal args
    command: printf
    args: ["%s|", "$(id)", "it's", "$HOME"]
    expectedOutput: ['^\$\(id\)\|it''s\|\$HOME\|$']
  - name: env
    command: sh
    args: [-c, 'echo "$GREETING from $PWD"']
    expectedOutput: ["^hello from /\n$"]
  - name: exit code
    command: sh
    args: [-c, "exit 3"]
    exitCode: 3
  - name: fails
    command: "false"
`, m)
	if !slices.Equal(res.PassedTests, []string{"literal args", "env", "exit code"}) || !slices.Equal(res.FailedTests, []string{"fails"}) || res.Result != imagetest.Failed {
		t.Errorf("passed %q failed %q (%s): %+v", res.PassedTests, res.FailedTests, res.Result, res.Bakery.Problems)
	}
}

// TestCommandKilledAtTheLimit: a command that hangs, and what it forks, is
// killed on the machine at the suite's timeout, and the test FAILS saying so.
func TestCommandKilledAtTheLimit(t *testing.T) {
	m := &Machine{Comm: &shellComm{}}
	marker := filepath.Join(t.TempDir(), "survived")
	started := time.Now()
	res := run(t, `schemaVersion: 2.0.0
timeout: 1s
commandTests:
  - name: hangs
    command: sh
    args: [-c, "(sleep 3; touch `+marker+`) & sleep 60"]
`, m)
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("the suite took %s; the test's limit is 1s", took)
	}
	if res.Result != imagetest.Failed || !strings.Contains(problem(res, "hangs"), "timed out after 1s") {
		t.Errorf("result %s, problems %+v", res.Result, res.Bakery.Problems)
	}
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Error("a process the test forked outlived the limit")
	}
}

// hangingComm starts every command and never sees it end: a lost SSH
// connection.
type hangingComm struct{ shellComm }

func (*hangingComm) Start(context.Context, *packersdk.RemoteCmd) error { return nil }

// TestCommunicatorThatHangs: when the communicator never reports the end of
// a command, the runner gives it up at its limit and the guard, as timed out.
func TestCommunicatorThatHangs(t *testing.T) {
	m := &Machine{Comm: &hangingComm{}, Guard: 100 * time.Millisecond}
	ctr, err := m.Start(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	out, err := ctr.Run(context.Background(), imagetest.Command{Args: []string{"sleep", "60"}, Timeout: 200 * time.Millisecond, MaxOutput: 10})
	if err != nil || !out.TimedOut {
		t.Errorf("Run = %+v, %v; want timed out", out, err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestOutputCapped: a command that floods its output costs at most
// maxOutput per stream, and FAILS as it cannot be checked.
func TestOutputCapped(t *testing.T) {
	m := &Machine{Comm: &shellComm{}}
	res := run(t, `schemaVersion: 2.0.0
maxOutput: 1024
commandTests:
  - name: floods
    command: head
    args: [-c, "50000000", /dev/zero]
`, m)
	if res.Result != imagetest.Failed || !strings.Contains(problem(res, "floods"), "more than maxOutput (1024 bytes)") {
		t.Errorf("result %s, problems %+v", res.Result, res.Bakery.Problems)
	}
	c := newCapped(10)
	for range 1000 {
		if n, err := c.Write([]byte("0123456789abcdef")); n != 16 || err != nil {
			t.Fatalf("Write = %d, %v: a capped stream must accept everything", n, err)
		}
	}
	if b, dropped := c.bytes(); string(b) != "0123456789" || !dropped {
		t.Errorf("kept %q, dropped %v", b, dropped)
	}
}

// TestNetwork: command tests see only the loopback interface unless the
// suite asks for the network; a machine that cannot turn it off WARNS
// instead of claiming it did.
func TestNetwork(t *testing.T) {
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		t.Fatalf("this test needs unshare -n (root): %v", err)
	}
	const suite = `schemaVersion: 2.0.0
network: %s
commandTests:
  - name: interfaces
    command: sh
    args: [-c, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ,"]
    expectedOutput: ["^lo,$"]
`
	m := &Machine{Comm: &shellComm{}, Unshare: true}
	if res := run(t, strings.Replace(suite, "%s", "false", 1), m); res.Result != imagetest.Passed {
		t.Errorf("network off: %s %+v", res.Result, res.Bakery.Problems)
	}
	if res := run(t, strings.Replace(suite, "%s", "true", 1), m); res.Result != imagetest.Failed {
		t.Errorf("network on: %s, want the host's interfaces beside lo", res.Result)
	}

	s := parse(t, strings.Replace(strings.Replace(suite, "%s", "false", 1), `["^lo,$"]`, `["lo,"]`, 1))
	res := imagetest.Result{Result: imagetest.Passed, PassedTests: []string{"interfaces", "a file"}, WarnedTests: []string{}, FailedTests: []string{}}
	warnNetwork(&res, s, "no unshare")
	if res.Result != imagetest.Warned || !slices.Equal(res.PassedTests, []string{"a file"}) || !slices.Equal(res.WarnedTests, []string{"interfaces"}) ||
		len(res.Bakery.Problems) != 1 || res.Bakery.Problems[0].Reason != "no unshare" {
		t.Errorf("after warnNetwork: %+v", res)
	}
}

// TestFiles: file tests check the machine's own files, links followed as
// stat follows them (/bin and /etc/os-release are links on Debian 12).
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.conf")
	if err := os.WriteFile(secret, []byte("umask 027\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o640); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	m := &Machine{Comm: &shellComm{}}
	res := run(t, `schemaVersion: 2.0.0
maxOutput: 1024
globalEnvVars: [{key: DIR, value: `+dir+`}]
fileExistenceTests:
  - {name: sh through /bin, path: /bin/sh, isExecutableBy: any}
  - {name: the conf, path: $DIR/secret.conf, permissions: -rw-r-----, uid: 0}
  - {name: through a link, path: $DIR/link, permissions: -rw-r-----}
  - {name: a directory, path: $DIR, shouldExist: true}
  - {name: the root, path: /, permissions: drwxr-xr-x}
  - {name: absent, path: $DIR/nope, shouldExist: false}
  - {name: missing, path: $DIR/nope}
  - {name: wrong mode, path: $DIR/secret.conf, permissions: -rwxrwxrwx}
fileContentTests:
  - {name: os-release, path: /etc/os-release, expectedContents: ["(?m)^ID=debian$"]}
  - {name: umask, path: $DIR/link, expectedContents: ["umask 027"], excludedContents: ["umask 022"]}
  - {name: too big, path: $DIR/big, expectedContents: ["x"]}
`, m)
	wantPassed := []string{"sh through /bin", "the conf", "through a link", "a directory", "the root", "absent", "os-release", "umask"}
	if !slices.Equal(res.PassedTests, wantPassed) || !slices.Equal(res.FailedTests, []string{"missing", "wrong mode", "too big"}) {
		t.Errorf("passed %q\nfailed %q\nproblems %+v", res.PassedTests, res.FailedTests, res.Bakery.Problems)
	}
	if !strings.Contains(problem(res, "too big"), "larger than maxOutput") || !strings.Contains(problem(res, "missing"), "no such file") {
		t.Errorf("problems %+v", res.Bakery.Problems)
	}
	if res.Bakery.Platform != "linux/amd64" {
		t.Errorf("platform %q", res.Bakery.Platform)
	}
}

// TestResultsOfThisRun: the post-processor takes only this packer run's
// results; another run's leftovers are never used.
func TestResultsOfThisRun(t *testing.T) {
	t.Chdir(t.TempDir())
	r := imagetest.Result{Result: imagetest.Passed, Bakery: imagetest.Details{Suite: "hardening"}}
	if err := writeResult(Output("debian", "hardening"), "run-1", r); err != nil {
		t.Fatal(err)
	}
	got, err := Results("debian", []string{"hardening", "other"}, "run-1")
	if err != nil || len(got) != 1 || got[0].Bakery.Suite != "hardening" {
		t.Errorf("this run's: %+v, %v", got, err)
	}
	if _, err := Results("debian", []string{"hardening"}, "run-2"); !errors.Is(err, ErrNoResults) || !strings.Contains(err.Error(), "left over from another packer run: bakery-test-debian-hardening.json") {
		t.Errorf("another run's: %v", err)
	}
	if _, err := Results("other-build", []string{"hardening"}, "run-1"); !errors.Is(err, ErrNoResults) {
		t.Errorf("no file: %v", err)
	}
}

// TestProvisionRecordsAFailingSuite: bakery-test runs the target's suites
// named in bakery.yaml and writes each result for this packer run; a suite
// that FAILS does not stop the build (the post-processor records it and
// fails), and a suite named in the template limits the run to it.
func TestProvisionRecordsAFailingSuite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(string(env.PackerRunUUID), "run-7")
	files := map[string]string{
		"bakery.yaml": `version: 1
targets:
  golden-ami:
    type: packer
    template: ami.pkr.hcl
    tests:
      - {name: good, file: good.yaml}
      - {name: bad, file: bad.yaml}
      - {name: smoke, external: true}
environments:
  - {name: dev, repository: 127.0.0.1:5000/dev}
`,
		"ami.pkr.hcl": "",
		"good.yaml":   "schemaVersion: 2.0.0\ncommandTests:\n  - {name: true, command: \"true\"}\n",
		"bad.yaml":    "schemaVersion: 2.0.0\nfileExistenceTests:\n  - {name: no such file, path: /nope/nope}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"config": "bakery.yaml", "target": "golden-ami", "packer_build_name": "debian", "packer_builder_type": "bakery-chroot"}); err != nil {
		t.Fatal(err)
	}
	ui := packersdk.TestUi(t)
	if err := p.Provision(context.Background(), ui, &shellComm{}, nil); err != nil {
		t.Fatalf("Provision: %v (a failing suite must not stop the build)", err)
	}
	got, err := Results("debian", []string{"good", "bad"}, "run-7")
	if err != nil || len(got) != 2 {
		t.Fatalf("results %+v, %v", got, err)
	}
	if got[0].Result != imagetest.Passed || got[1].Result != imagetest.Failed || !slices.Equal(got[1].FailedTests, []string{"no such file"}) ||
		!strings.HasPrefix(got[0].Bakery.Runner, "bakery-chroot on ") {
		t.Errorf("results %+v", got)
	}

	if err := os.Remove(Output("debian", "bad")); err != nil {
		t.Fatal(err)
	}
	p = &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"config": "bakery.yaml", "target": "golden-ami", "packer_build_name": "debian", "suites": []string{"good"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(context.Background(), ui, &shellComm{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Output("debian", "bad")); err == nil {
		t.Error("suites = [good] ran bad too")
	}
	p = &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"config": "bakery.yaml", "target": "golden-ami", "packer_build_name": "debian", "suites": []string{"smoke"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(context.Background(), ui, &shellComm{}, nil); err == nil || !strings.Contains(err.Error(), "external") {
		t.Errorf("running an external suite: %v", err)
	}
}

// noUnshareComm is this machine without a working unshare.
type noUnshareComm struct{ shellComm }

func (c *noUnshareComm) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	script, err := io.ReadAll(cmd.Stdin)
	if err != nil {
		return err
	}
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(string(script), "unshare -n", "/nonexistent/unshare -n"))
	return c.shellComm.Start(ctx, cmd)
}

// TestProbe: the machine's platform and whether it can turn the network
// off; one that cannot says so, and its command tests then WARN.
func TestProbe(t *testing.T) {
	m, platform, warning, err := probe(context.Background(), &shellComm{})
	if err != nil || !m.Unshare || platform != "linux/amd64" || warning != "" {
		t.Errorf("probe = %+v, %q, %q, %v", m, platform, warning, err)
	}
	m, _, warning, err = probe(context.Background(), &noUnshareComm{})
	if err != nil || m.Unshare || !strings.Contains(warning, "could not be turned off") {
		t.Errorf("without unshare: %+v, %q, %v", m, warning, err)
	}
	res := run(t, "schemaVersion: 2.0.0\ncommandTests:\n  - {name: runs, command: \"true\"}\n", m)
	if res.Result != imagetest.Passed {
		t.Errorf("run without unshare: %s %+v", res.Result, res.Bakery.Problems)
	}
}
