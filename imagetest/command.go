package imagetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
)

// runCommandTest runs one command test in a fresh container: its setup
// commands and command share the suite's Timeout, so a test cannot take
// longer however it is split; teardown gets a Timeout of its own and its
// failure only WARNS, as the test itself has passed or failed by then. An
// error means the runner failed, not the test.
func runCommandTest(ctx context.Context, s *Suite, runner Runner, env environ, t CommandTest) (outcome, error) {
	o := outcome{name: t.Name, verdict: Passed}
	start := runner.Start
	if f, ok := runner.(FreshRunner); ok && len(t.Setup)+len(t.Teardown) == 0 {
		start = f.StartOnce
	}
	ctr, err := start(ctx, s.Network)
	if err != nil {
		return o, unavailable(t.Name, "starting a container", err)
	}
	// Release even when ctx has ended, so a cancelled run leaves nothing
	// behind on the node.
	defer func() { _ = ctr.Release(context.WithoutCancel(ctx)) }()
	deadline := time.Now().Add(s.Timeout)
	x := &executor{ctr: ctr, env: env, maxOutput: s.MaxOutput, timeout: s.Timeout}
	for _, args := range t.Setup {
		out, err := x.run(ctx, args, time.Until(deadline))
		if err != nil {
			return o, unavailable(t.Name, "running setup", err)
		}
		if why := x.problem(out); why != "" || out.ExitCode != 0 {
			o.fail("setup %s %s", quoteArgs(args), orExit(why, out))
			return o, nil
		}
	}
	out, err := x.run(ctx, append([]string{t.Command}, t.Args...), time.Until(deadline))
	if err != nil {
		return o, unavailable(t.Name, "running the command", err)
	}
	x.check(&o, t, out)
	for _, args := range t.Teardown {
		out, err := x.run(ctx, args, s.Timeout)
		if err != nil {
			return o, unavailable(t.Name, "running teardown", err)
		}
		if why := x.problem(out); why != "" || out.ExitCode != 0 {
			o.warn("teardown %s %s", quoteArgs(args), orExit(why, out))
		}
	}
	return o, nil
}

// executor runs a test's commands in its container.
type executor struct {
	ctr       Container
	env       environ
	maxOutput int64
	timeout   time.Duration
}

// run runs args, $VARs expanded from the test's environment as
// container-structure-test does, within budget; a spent budget is a
// timeout without running anything.
func (x *executor) run(ctx context.Context, args []string, budget time.Duration) (Output, error) {
	if budget <= 0 {
		return Output{TimedOut: true}, nil
	}
	expanded := make([]string, len(args))
	for i, a := range args {
		expanded[i] = x.env.expand(a)
	}
	out, err := x.ctr.Run(ctx, Command{Args: expanded, Env: x.env, Timeout: budget, MaxOutput: x.maxOutput})
	if err != nil {
		return out, err
	}
	// A runner must cap its capture; cap here too, so that no runner can
	// make a result carry more than the suite allows.
	for _, b := range []*[]byte{&out.Stdout, &out.Stderr} {
		if int64(len(*b)) > x.maxOutput {
			*b, out.Truncated = (*b)[:x.maxOutput], true
		}
	}
	return out, nil
}

// problem says why out cannot be judged: it timed out or was cut short.
func (x *executor) problem(out Output) string {
	switch {
	case out.TimedOut:
		return fmt.Sprintf("timed out after %s (the suite's timeout); raise timeout or make the test faster", x.timeout)
	case out.Truncated:
		return fmt.Sprintf("wrote more than maxOutput (%d bytes) and cannot be checked; raise maxOutput or quiet the command", x.maxOutput)
	}
	return ""
}

// check judges the command's output and exit code.
func (x *executor) check(o *outcome, t CommandTest, out Output) {
	if why := x.problem(out); why != "" {
		o.fail("%s", why)
		return
	}
	o.match("stdout", string(out.Stdout), t.ExpectedOutput, t.ExcludedOutput)
	o.match("stderr", string(out.Stderr), t.ExpectedError, t.ExcludedError)
	if out.ExitCode != t.ExitCode {
		o.fail("exit code %d, expected %d%s", out.ExitCode, t.ExitCode, stderrOf(out))
	}
}

// orExit is why, or else the exit code and what the process said on stderr.
func orExit(why string, out Output) string {
	if why != "" {
		return why
	}
	return fmt.Sprintf("exited %d%s", out.ExitCode, stderrOf(out))
}

// stderrOf is an excerpt of out's stderr to explain an exit code, or "".
func stderrOf(out Output) string {
	if len(bytes.TrimSpace(out.Stderr)) == 0 {
		return ""
	}
	return "; stderr: " + excerpt(string(out.Stderr))
}

func quoteArgs(args []string) string {
	return fmt.Sprintf("%q", strings.Join(args, " "))
}

func unavailable(test, doing string, err error) error {
	return failure.New(failure.Unavailable, "command test "+test, fmt.Errorf("%s: %w", doing, err), "check the build node, then run the suite again")
}
