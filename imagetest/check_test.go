package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bakeryhq/bakery/internal/failure"
)

// entry is one tar entry of a test layer: a file with content, a
// directory (name ends in /), a symlink or hard link (link set).
type entry struct {
	name, content, link string
	mode                int64
	uid, gid            int
	hard                bool
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, Typeflag: tar.TypeReg, Size: int64(len(e.content))}
		switch {
		case e.link != "" && e.hard:
			h.Typeflag, h.Linkname = tar.TypeLink, e.link
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag = tar.TypeDir
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage is two layers, the upper one whiting out and replacing files
// of the lower, with a Debian-like merged /usr and os-release link.
func testImage(t *testing.T, cfg v1.Config) v1.Image {
	t.Helper()
	lower := layer(t,
		entry{name: "usr/", mode: 0o755},
		entry{name: "usr/bin/", mode: 0o755},
		entry{name: "usr/bin/tool", content: "#!/bin/sh\n", mode: 0o750, uid: 0, gid: 50},
		entry{name: "bin", link: "usr/bin"},
		entry{name: "usr/lib/os-release", content: "ID=debian\nVERSION_ID=12\n"},
		entry{name: "etc/os-release", link: "../usr/lib/os-release"},
		entry{name: "etc/secret", content: "s3cret"},
		entry{name: "etc/motd", content: "old"},
		entry{name: "loop/a", link: "/loop/b"},
		entry{name: "loop/b", link: "/loop/a"},
		entry{name: "big", content: strings.Repeat("x", 100)},
		entry{name: "usr/bin/hard", link: "usr/bin/tool", hard: true},
	)
	upper := layer(t,
		entry{name: "etc/.wh.secret"},
		entry{name: "etc/motd", content: "new", mode: 0o600, uid: 1000, gid: 1000},
		entry{name: "srv/app/data.txt", content: "x"},
	)
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture, cf.Config = "linux", "arm64", cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func yes() *bool    { b := true; return &b }
func no() *bool     { b := false; return &b }
func id(n int) *int { return &n }

func runSuite(t *testing.T, s *Suite, img v1.Image, r Runner) Result {
	t.Helper()
	if s.SchemaVersion == "" {
		s.SchemaVersion = SchemaVersion
	}
	s.Name, s.File, s.Digest = "smoke", "smoke.yaml", "sha256:abc"
	res, err := Run(context.Background(), s, img, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// verdicts maps each test to its verdict and the reason it did not pass.
func verdicts(r Result) map[string]string {
	out := map[string]string{}
	for _, n := range r.PassedTests {
		out[n] = string(Passed)
	}
	for _, p := range r.Bakery.Problems {
		out[p.Test] = string(p.Verdict) + ": " + p.Reason
	}
	return out
}

func expect(t *testing.T, r Result, want map[string]string) {
	t.Helper()
	got := verdicts(r)
	for name, w := range want {
		if !strings.HasPrefix(got[name], w) {
			t.Errorf("%s: got %q, want %q...", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d tests, want %d: %v", len(got), len(want), got)
	}
}

func TestFileTests(t *testing.T) {
	img := testImage(t, v1.Config{Env: []string{"APP=/srv/app"}})
	s := &Suite{
		MaxOutput: 50,
		FileExistenceTests: []FileExistenceTest{
			{Name: "tool", Path: "/usr/bin/tool", Permissions: "-rwxr-x---", Uid: id(0), Gid: id(50), IsExecutableBy: "group"},
			{Name: "tool via /bin link", Path: "/bin/tool", IsExecutableBy: "owner"},
			{Name: "tool not for others", Path: "/usr/bin/tool", IsExecutableBy: "other"},
			{Name: "wrong owner", Path: "/etc/motd", Uid: id(0), Gid: id(0)},
			{Name: "wrong mode", Path: "/etc/motd", Permissions: "-rw-r--r--"},
			{Name: "whited out", Path: "/etc/secret", ShouldExist: no()},
			{Name: "whited out but expected", Path: "/etc/secret", ShouldExist: yes()},
			{Name: "implied directory", Path: "/srv/app"},
			{Name: "env in path", Path: "$APP/data.txt"},
			{Name: "link loop", Path: "/loop/a"},
			{Name: "present but should not", Path: "/etc/motd", ShouldExist: no()},
			{Name: "hard link", Path: "/usr/bin/hard", Permissions: "-rwxr-x---"},
		},
		FileContentTests: []FileContentTest{
			{Name: "os-release via link", Path: "/etc/os-release", ExpectedContents: []string{"(?m)^ID=debian$"}, ExcludedContents: []string{"alpine"}},
			{Name: "upper layer wins", Path: "/etc/motd", ExpectedContents: []string{"^new$"}, ExcludedContents: []string{"old"}},
			{Name: "excluded found", Path: "/usr/lib/os-release", ExcludedContents: []string{"VERSION_ID=1\\d"}},
			{Name: "over the cap", Path: "/big", ExpectedContents: []string{"x"}},
			{Name: "a directory", Path: "/usr/bin"},
			{Name: "gone", Path: "/etc/secret"},
		},
	}
	r := runSuite(t, s, img, nil)
	expect(t, r, map[string]string{
		"tool":                    "PASSED",
		"tool via /bin link":      "PASSED",
		"tool not for others":     "FAILED: /usr/bin/tool (-rwxr-x---) is not executable by other",
		"wrong owner":             "FAILED: /etc/motd is owned by uid 1000, expected 0; /etc/motd is owned by gid 1000, expected 0",
		"wrong mode":              "FAILED: /etc/motd has permissions -rw-------, expected -rw-r--r--",
		"whited out":              "PASSED",
		"whited out but expected": "FAILED: /etc/secret: no such file or directory",
		"implied directory":       "PASSED",
		"env in path":             "PASSED",
		"link loop":               "FAILED: /loop/a: too many levels of symbolic links",
		"present but should not":  "FAILED: /etc/motd exists, expected it not to",
		"hard link":               "PASSED",
		"os-release via link":     "PASSED",
		"upper layer wins":        "PASSED",
		"excluded found":          "FAILED: /usr/lib/os-release: excluded /VERSION_ID=1\\d/ found in",
		"over the cap":            "FAILED: /big is larger than maxOutput (50 bytes)",
		"a directory":             "FAILED: /usr/bin is not a regular file",
		"gone":                    "FAILED: /etc/secret: no such file or directory",
	})
	if r.Result != Failed || r.Bakery.Platform != "linux/arm64" {
		t.Errorf("result %s platform %s", r.Result, r.Bakery.Platform)
	}
}

func TestMetadataTest(t *testing.T) {
	cfg := v1.Config{
		Env:          []string{"PATH=/usr/local/bin:/usr/bin", "MODE=prod"},
		Entrypoint:   []string{"/app"},
		Cmd:          []string{"serve"},
		WorkingDir:   "/srv",
		User:         "1000:1000",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
		Labels:       map[string]string{"org.opencontainers.image.version": "1.2.3"},
		Volumes:      map[string]struct{}{"/data": {}},
	}
	img := testImage(t, cfg)
	empty := []string{}
	for _, tc := range []struct {
		name string
		m    MetadataTest
		want string
	}{
		{"all match", MetadataTest{
			EnvVars:    []EnvVar{{Key: "PATH", Value: "/usr/bin$", IsRegex: true}, {Key: "MODE", Value: "prod"}},
			Entrypoint: &[]string{"/app"}, Cmd: &[]string{"serve"}, Workdir: "/srv", User: "1000:1000",
			ExposedPorts: []string{"8080", "53/udp"}, UnexposedPorts: []string{"22"},
			Labels:  []Label{{Key: "org.opencontainers.image.version", Value: `^1\.\d+\.\d+$`, IsRegex: true}},
			Volumes: []string{"/data"}, UnmountedVolumes: []string{"/tmp"},
		}, "PASSED"},
		{"env missing", MetadataTest{EnvVars: []EnvVar{{Key: "HOME", Value: "/root"}}}, "FAILED: env HOME is not set"},
		{"env differs", MetadataTest{EnvVars: []EnvVar{{Key: "MODE", Value: "dev"}}}, `FAILED: env MODE is "prod", expected "dev"`},
		{"entrypoint must be empty", MetadataTest{Entrypoint: &empty}, `FAILED: entrypoint is ["/app"], expected []`},
		{"cmd", MetadataTest{Cmd: &[]string{"run"}}, `FAILED: cmd is ["serve"], expected ["run"]`},
		{"user", MetadataTest{User: "root"}, `FAILED: user is "1000:1000", expected "root"`},
		{"workdir", MetadataTest{Workdir: "/"}, `FAILED: workdir is "/srv", expected "/"`},
		{"port", MetadataTest{ExposedPorts: []string{"53"}}, "FAILED: port 53 is not exposed"},
		{"unexposed port", MetadataTest{UnexposedPorts: []string{"8080/tcp"}}, "FAILED: port 8080/tcp is exposed"},
		{"label regex", MetadataTest{Labels: []Label{{Key: "org.opencontainers.image.version", Value: "^2", IsRegex: true}}}, `FAILED: label org.opencontainers.image.version is "1.2.3", expected /^2/`},
		{"volume", MetadataTest{Volumes: []string{"/cache"}}, "FAILED: volume /cache is not declared"},
		{"unmounted volume", MetadataTest{UnmountedVolumes: []string{"/data"}}, "FAILED: volume /data is declared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			r := runSuite(t, &Suite{MetadataTest: &m}, img, nil)
			expect(t, r, map[string]string{MetadataTestName: tc.want})
		})
	}
}

// fakeRunner answers each command (its args joined by spaces) with a
// canned Output; it records what ran and how containers were started.
type fakeRunner struct {
	outputs  map[string]Output
	startErr error
	ran      []Command
	network  []bool
	released int
}

func (f *fakeRunner) Start(_ context.Context, network bool) (Container, error) {
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.network = append(f.network, network)
	return f, nil
}

func (f *fakeRunner) Run(_ context.Context, c Command) (Output, error) {
	f.ran = append(f.ran, c)
	out, ok := f.outputs[strings.Join(c.Args, " ")]
	if !ok {
		return Output{Stderr: []byte("not found"), ExitCode: 127}, nil
	}
	return out, nil
}

func (f *fakeRunner) Release(context.Context) error {
	f.released++
	return nil
}

var _ Runner = (*fakeRunner)(nil)

func TestCommandTests(t *testing.T) {
	img := testImage(t, v1.Config{Env: []string{"HOME=/root", "GREETING=hi"}})
	flood := bytes.Repeat([]byte("y"), 2048)
	f := &fakeRunner{outputs: map[string]Output{
		"echo hi /root":    {Stdout: []byte("hi /root\n")},
		"false":            {ExitCode: 1, Stderr: []byte("boom")},
		"sleep forever":    {TimedOut: true, ExitCode: 137},
		"yes":              {Stdout: flood, Truncated: true},
		"yes-uncapped":     {Stdout: flood},
		"setup-fails":      {ExitCode: 2},
		"cleanup-fails":    {ExitCode: 1},
		"warn":             {Stdout: []byte("warning: deprecated"), Stderr: []byte("error: x")},
		"env-check world!": {Stdout: []byte("ok")},
	}}
	s := &Suite{
		MaxOutput:     1024,
		Timeout:       time.Minute,
		GlobalEnvVars: []EnvVar{{Key: "WHO", Value: "world"}},
		CommandTests: []CommandTest{
			{Name: "echo", Command: "echo", Args: []string{"$GREETING", "${HOME}"}, ExpectedOutput: []string{"^hi /root"}},
			{Name: "exit code", Command: "false", ExpectedError: []string{"boom"}},
			{Name: "expected exit code", Command: "false", ExitCode: 1},
			{Name: "hangs", Command: "sleep", Args: []string{"forever"}},
			{Name: "floods", Command: "yes"},
			{Name: "floods a runner that does not cap", Command: "yes-uncapped"},
			{Name: "setup fails", Setup: [][]string{{"setup-fails"}}, Command: "echo", Args: []string{"hi", "/root"}},
			{Name: "teardown fails", Command: "echo", Args: []string{"hi", "/root"}, Teardown: [][]string{{"cleanup-fails"}}},
			{Name: "excluded", Command: "warn", ExcludedOutput: []string{"warning"}, ExcludedError: []string{"^error"}},
			{Name: "env", Command: "env-check", Args: []string{"$WHO!"}, EnvVars: []EnvVar{{Key: "X", Value: "$WHO-$UNSET"}}},
		},
	}
	r := runSuite(t, s, img, f)
	expect(t, r, map[string]string{
		"echo":                              "PASSED",
		"exit code":                         "FAILED: exit code 1, expected 0",
		"expected exit code":                "PASSED",
		"hangs":                             "FAILED: timed out after 1m0s (the suite's timeout)",
		"floods":                            "FAILED: wrote more than maxOutput (1024 bytes)",
		"floods a runner that does not cap": "FAILED: wrote more than maxOutput (1024 bytes)",
		"setup fails":                       `FAILED: setup "setup-fails" exited 2`,
		"teardown fails":                    `WARNED: teardown "cleanup-fails" exited 1`,
		"excluded":                          `FAILED: stdout: excluded /warning/ found in "warning: deprecated"; stderr: excluded /^error/ found in "error: x"`,
		"env":                               "PASSED",
	})
	if f.released != len(s.CommandTests) || len(f.network) != len(s.CommandTests) || f.network[0] {
		t.Errorf("%d containers started (network %v), %d released", len(f.network), f.network, f.released)
	}
	for _, c := range f.ran {
		if c.MaxOutput != 1024 || c.Timeout <= 0 || c.Timeout > time.Minute {
			t.Errorf("%q ran with cap %d, timeout %s", c.Args, c.MaxOutput, c.Timeout)
		}
		if strings.Join(c.Args, " ") == "env-check world!" && !strings.Contains(strings.Join(c.Env, " "), "X=world-$UNSET") {
			t.Errorf("env %q", c.Env)
		}
	}
	if r.Result != Failed {
		t.Errorf("result %s", r.Result)
	}
}

func TestSetupSharesTheTimeLimit(t *testing.T) {
	img := testImage(t, v1.Config{})
	slow := &slowRunner{fakeRunner: fakeRunner{outputs: map[string]Output{"prepare": {}, "check": {}}}, each: 30 * time.Millisecond}
	s := &Suite{Timeout: 50 * time.Millisecond, CommandTests: []CommandTest{
		{Name: "slow setup", Setup: [][]string{{"prepare"}, {"prepare"}}, Command: "check"},
	}}
	r := runSuite(t, s, img, slow)
	expect(t, r, map[string]string{"slow setup": `FAILED: setup "prepare" timed out`})
}

// slowRunner takes each long per command and times out past Timeout.
type slowRunner struct {
	fakeRunner
	each time.Duration
}

func (s *slowRunner) Start(ctx context.Context, network bool) (Container, error) {
	if _, err := s.fakeRunner.Start(ctx, network); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *slowRunner) Run(ctx context.Context, c Command) (Output, error) {
	if c.Timeout < s.each {
		time.Sleep(c.Timeout)
		return Output{TimedOut: true}, nil
	}
	time.Sleep(s.each)
	return s.fakeRunner.Run(ctx, c)
}

func TestRunnerUnavailable(t *testing.T) {
	img := testImage(t, v1.Config{})
	s := &Suite{CommandTests: []CommandTest{{Name: "a", Command: "true"}}}
	s.SchemaVersion = SchemaVersion
	_, err := Run(context.Background(), s, img, &fakeRunner{startErr: errors.New("node gone")})
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "node gone") {
		t.Errorf("got %v", err)
	}
	if _, err := Run(context.Background(), s, img, nil); err == nil {
		t.Error("command tests ran without a runner")
	}
}

func TestNetworkIsOffUnlessAsked(t *testing.T) {
	img := testImage(t, v1.Config{})
	f := &fakeRunner{outputs: map[string]Output{"true": {}}}
	runSuite(t, &Suite{Network: true, CommandTests: []CommandTest{{Name: "a", Command: "true"}}}, img, f)
	runSuite(t, &Suite{CommandTests: []CommandTest{{Name: "a", Command: "true"}}}, img, f)
	if len(f.network) != 2 || !f.network[0] || f.network[1] {
		t.Errorf("network %v", f.network)
	}
}

func TestFilePaths(t *testing.T) {
	s := &Suite{
		GlobalEnvVars:      []EnvVar{{Key: "ETC", Value: "/etc"}},
		FileExistenceTests: []FileExistenceTest{{Name: "a", Path: "$ETC/motd"}, {Name: "b", Path: "usr/bin/../bin/sh"}},
		FileContentTests:   []FileContentTest{{Name: "c", Path: "/etc/motd"}, {Name: "d", Path: "${ETC}/passwd"}},
	}
	paths, content := FilePaths(s)
	if want := []string{"/etc/motd", "/usr/bin/sh", "/etc/passwd"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
	if !content["/etc/motd"] || !content["/etc/passwd"] || content["/usr/bin/sh"] {
		t.Errorf("content %v", content)
	}
}
