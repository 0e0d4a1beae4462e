package imagetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Runner starts containers from the image under test: in production, on
// the BuildKit node that built it, through the gateway's NewContainer.
// Every command test gets a fresh container, so tests cannot see each
// other's changes.
type Runner interface {
	Start(ctx context.Context, network bool) (Container, error)
}

// Container is one container of the image under test; a test's setup
// commands, command and teardown commands run in it, in that order.
type Container interface {
	// Run runs one command to its end, its time limit or ctx's end. An
	// error means the command could not be run at all (the node is gone),
	// never that it failed: that is Output's to say.
	Run(ctx context.Context, c Command) (Output, error)
	// Release removes the container.
	Release(ctx context.Context) error
}

// FreshRunner is a Runner whose every container is a fresh copy of the
// image (BuildKit's), so that no test can see what another did. Run makes
// use of that: it runs up to Parallel command tests at once, and starts a
// test that runs a single process (no setup, no teardown) with StartOnce: a
// container that lives exactly as long as that one process, with nothing
// kept running beside it.
type FreshRunner interface {
	Runner
	Parallel() int
	StartOnce(ctx context.Context, network bool) (Container, error)
}

// Command is one process to run in a Container.
type Command struct {
	// Args is the program and its arguments; Args[0] is looked up in PATH
	// as the image's runtime would.
	Args []string
	// Env is the whole environment, KEY=VALUE: the image's, overlaid with
	// the suite's and the test's variables.
	Env []string
	// Timeout is how long the command may run; the runner kills it then
	// and reports TimedOut.
	Timeout time.Duration
	// MaxOutput caps each of stdout and stderr in bytes; the runner keeps
	// at most that much and reports Truncated.
	MaxOutput int64
}

// Output is what a Command did.
type Output struct {
	Stdout, Stderr []byte
	// ExitCode is the process's exit status (128+n for signal n).
	ExitCode int
	// TimedOut is set when the command was killed at its Timeout.
	TimedOut bool
	// Truncated is set when a stream exceeded MaxOutput.
	Truncated bool
}

// Run runs suite s against img: the metadata test against its config, the
// file tests against its flattened filesystem, the command tests through
// runner (which may be nil when s has none). Tests that fail are in the
// Result, FAILED; an error means the suite could not be run (the image
// could not be read, the runner is unavailable) and there is no result to
// record. The caller fills the Result's target, environment and runner.
func Run(ctx context.Context, s *Suite, img v1.Image, runner Runner) (Result, error) {
	c := *s
	c.applyDefaults()
	started := time.Now().UTC()
	cfg, err := img.ConfigFile()
	if err != nil {
		return Result{}, failure.New(failure.Unavailable, "image under test", fmt.Errorf("reading its config: %w", err), "check the registry, then run the suite again")
	}
	if len(c.CommandTests) > 0 && runner == nil {
		return Result{}, failure.New(failure.Internal, "suite "+c.Name, fmt.Errorf("%d command tests and no runner", len(c.CommandTests)), "")
	}
	r := newResult(&c, platformOf(cfg), started)
	if c.MetadataTest != nil {
		r.record(checkMetadata(c.MetadataTest, cfg))
	}
	env := environ(cfg.Config.Env).with(c.GlobalEnvVars)
	// The file tests read the image (from the node that runs it, or from
	// the registry) while the command tests run: neither waits for the other.
	var files []outcome
	var filesErr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		if reader, ok := runner.(FileReader); ok {
			files, filesErr = checkFilesOn(ctx, &c, reader, env)
			return
		}
		files, filesErr = checkFiles(&c, img, env)
	}()
	commands, err := runCommandTests(ctx, &c, runner, env)
	<-read
	if err = errors.Join(filesErr, err); err != nil {
		return Result{}, err
	}
	for _, o := range append(files, commands...) {
		r.record(o)
	}
	r.finish(time.Now().UTC())
	return r, nil
}

// runCommandTests runs s's command tests, at most Parallel at once on a
// FreshRunner and one after the other on any other Runner (a machine, whose
// tests share one filesystem). The outcomes are in the suite's order; the
// first runner error stops the rest.
func runCommandTests(ctx context.Context, s *Suite, runner Runner, env environ) ([]outcome, error) {
	out := make([]outcome, len(s.CommandTests))
	limit := 1
	if f, ok := runner.(FreshRunner); ok {
		limit = max(1, f.Parallel())
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, t := range s.CommandTests {
		g.Go(func() error {
			o, err := runCommandTest(ctx, s, runner, env.with(t.EnvVars), t)
			out[i] = o
			return err
		})
	}
	return out, g.Wait()
}

func platformOf(cfg *v1.ConfigFile) string {
	p := cfg.OS + "/" + cfg.Architecture
	if cfg.Variant != "" {
		p += "/" + cfg.Variant
	}
	return p
}

// outcome is one test's verdict and, unless it PASSED, why.
type outcome struct {
	name    string
	verdict Verdict
	reasons []string
}

func (o *outcome) fail(format string, args ...any) {
	o.verdict = Failed
	o.reasons = append(o.reasons, fmt.Sprintf(format, args...))
}

func (o *outcome) warn(format string, args ...any) {
	if o.verdict == Passed {
		o.verdict = Warned
	}
	o.reasons = append(o.reasons, fmt.Sprintf(format, args...))
}

// match fails o unless text matches every expected expression and none of
// the excluded ones; what names the text (stdout, /etc/os-release).
func (o *outcome) match(what, text string, expected, excluded []string) {
	for _, expr := range expected {
		if re, ok := o.compile(expr); ok && !re.MatchString(text) {
			o.fail("%s: expected /%s/ not found in %s", what, expr, excerpt(text))
		}
	}
	for _, expr := range excluded {
		if re, ok := o.compile(expr); ok && re.MatchString(text) {
			o.fail("%s: excluded /%s/ found in %s", what, expr, excerpt(text))
		}
	}
}

// compile fails o on a bad expression: Load rejects them, but a Suite may
// be built in code.
func (o *outcome) compile(expr string) (*regexp.Regexp, bool) {
	re, err := regexp.Compile(expr)
	if err != nil {
		o.fail("bad regular expression: %v", err)
	}
	return re, err == nil
}

// excerpt quotes the start of text for a reason, which must stay short.
func excerpt(text string) string {
	const most = 80
	if len(text) > most {
		return fmt.Sprintf("%q...", text[:most])
	}
	return fmt.Sprintf("%q", text)
}

// environ is an environment, KEY=VALUE, later entries overriding earlier.
type environ []string

func (e environ) lookup(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(e[i], "="); k == key {
			return v, true
		}
	}
	return "", false
}

// with returns e overlaid with vars, each value's $VAR and ${VAR}
// expanded from what is set so far, as container-structure-test does.
func (e environ) with(vars []EnvVar) environ {
	out := slices.Clone(e)
	for _, v := range vars {
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, v.Key+"=") })
		out = append(out, v.Key+"="+out.expand(v.Value))
	}
	return out
}

// expand replaces the variables e sets and leaves the others as written.
func (e environ) expand(s string) string {
	return expandVars.ReplaceAllStringFunc(s, func(ref string) string {
		name := strings.Trim(ref, "${}")
		if v, ok := e.lookup(name); ok {
			return v
		}
		return ref
	})
}

var expandVars = regexp.MustCompile(`\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)

// checkMetadata checks the image config as the metadata test expects.
func checkMetadata(m *MetadataTest, cfg *v1.ConfigFile) outcome {
	o := outcome{name: MetadataTestName, verdict: Passed}
	c := cfg.Config
	env := environ(c.Env)
	for _, want := range m.EnvVars {
		got, ok := env.lookup(want.Key)
		o.matchValue("env "+want.Key, got, ok, want.Value, want.IsRegex)
	}
	for _, want := range m.Labels {
		got, ok := c.Labels[want.Key]
		o.matchValue("label "+want.Key, got, ok, want.Value, want.IsRegex)
	}
	if m.Entrypoint != nil && !slices.Equal(*m.Entrypoint, c.Entrypoint) {
		o.fail("entrypoint is %q, expected %q", c.Entrypoint, *m.Entrypoint)
	}
	if m.Cmd != nil && !slices.Equal(*m.Cmd, c.Cmd) {
		o.fail("cmd is %q, expected %q", c.Cmd, *m.Cmd)
	}
	if m.Workdir != "" && m.Workdir != c.WorkingDir {
		o.fail("workdir is %q, expected %q", c.WorkingDir, m.Workdir)
	}
	if m.User != "" && m.User != c.User {
		o.fail("user is %q, expected %q", c.User, m.User)
	}
	for _, p := range m.ExposedPorts {
		if !exposed(c.ExposedPorts, p) {
			o.fail("port %s is not exposed", p)
		}
	}
	for _, p := range m.UnexposedPorts {
		if exposed(c.ExposedPorts, p) {
			o.fail("port %s is exposed", p)
		}
	}
	for _, v := range m.Volumes {
		if _, ok := c.Volumes[v]; !ok {
			o.fail("volume %s is not declared", v)
		}
	}
	for _, v := range m.UnmountedVolumes {
		if _, ok := c.Volumes[v]; ok {
			o.fail("volume %s is declared", v)
		}
	}
	return o
}

func (o *outcome) matchValue(what, got string, ok bool, want string, isRegex bool) {
	switch {
	case !ok:
		o.fail("%s is not set", what)
	case isRegex:
		if re, valid := o.compile(want); valid && !re.MatchString(got) {
			o.fail("%s is %q, expected /%s/", what, got, want)
		}
	case got != want:
		o.fail("%s is %q, expected %q", what, got, want)
	}
}

// exposed reports whether port ("8080" meaning 8080/tcp, or "53/udp") is
// among the image's exposed ports.
func exposed(ports map[string]struct{}, port string) bool {
	if !strings.Contains(port, "/") {
		port += "/tcp"
	}
	_, ok := ports[port]
	return ok
}
