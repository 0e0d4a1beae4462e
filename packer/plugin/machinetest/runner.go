package machinetest

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bakeryhq/bakery/imagetest"
)

// killedExit is the exit status of a command that `timeout -s KILL` killed
// (128 + SIGKILL): timeout kills its own process group, itself included.
const killedExit = 137

// DefaultGuard is how long past a command's limit the runner waits for the
// communicator before it gives the command up as timed out: `timeout` on the
// machine kills it at the limit, so only a communicator that hangs (a lost
// SSH connection) gets here.
const DefaultGuard = 30 * time.Second

// Machine runs command tests on the machine being built, through the
// Packer communicator: in bakery-chroot's chroot, or over SSH on a cloud
// builder's instance. It is an imagetest.Runner, but the machine is not a
// fresh container per test: every test runs on the same filesystem, as
// root, from /, and sees what earlier tests changed.
type Machine struct {
	Comm packersdk.Communicator
	// Unshare is set when `unshare -n` works on the machine, so a test's
	// network can be turned off.
	Unshare bool
	// Guard is how long past a command's limit the runner waits for the
	// communicator; default DefaultGuard.
	Guard time.Duration
}

// Start returns the machine itself: there is nothing to start.
func (m *Machine) Start(_ context.Context, network bool) (imagetest.Container, error) {
	return &session{m: m, network: network}, nil
}

// session is one command test's view of the machine.
type session struct {
	m       *Machine
	network bool
}

// Release has nothing to remove: the machine is the image being built.
func (*session) Release(context.Context) error { return nil }

// Run runs c on the machine under `timeout -s KILL` (the limit holds on the
// machine, for the command and everything it forks), with its network off
// through `unshare -n` unless the suite asks for one or the machine cannot
// do it, its output kept up to c.MaxOutput per stream and the rest dropped.
// The script travels on standard input, so neither the communicator nor the
// shell that runs it on Packer's side (bakery-chroot's) expands anything in
// it.
func (s *session) Run(ctx context.Context, c imagetest.Command) (imagetest.Output, error) {
	stdout, stderr := newCapped(c.MaxOutput), newCapped(c.MaxOutput)
	cmd := &packersdk.RemoteCmd{Command: "/bin/sh", Stdin: strings.NewReader(s.script(c)), Stdout: stdout, Stderr: stderr}
	started := time.Now()
	if err := s.m.Comm.Start(ctx, cmd); err != nil {
		return imagetest.Output{}, fmt.Errorf("starting %s on the machine: %w", c.Args[0], err)
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	timer := time.NewTimer(c.Timeout + cmp.Or(s.m.Guard, DefaultGuard))
	defer timer.Stop()
	var out imagetest.Output
	select {
	case code := <-exited:
		out.ExitCode = code
		out.TimedOut = code == killedExit && time.Since(started) >= c.Timeout
	case <-timer.C:
		out.TimedOut = true
	case <-ctx.Done():
		return imagetest.Output{}, ctx.Err()
	}
	out.Stdout, out.Truncated = stdout.bytes()
	var cut bool
	out.Stderr, cut = stderr.bytes()
	out.Truncated = out.Truncated || cut
	return out, nil
}

// script is the shell script that runs c: from /, with c's environment
// added to the machine's, killed at c.Timeout, without a network unless
// asked, its standard input empty.
func (s *session) script(c imagetest.Command) string {
	words := []string{"timeout", "-s", "KILL", fmt.Sprintf("%.3fs", max(c.Timeout.Seconds(), 0.001))}
	if len(c.Env) > 0 {
		words = append(append(words, "env"), c.Env...)
	}
	if !s.network && s.m.Unshare {
		words = append(words, "unshare", "-n", "--")
	}
	words = append(words, c.Args...)
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = Quote(w)
	}
	return "cd / || exit 126\n" + strings.Join(quoted, " ") + " </dev/null\n"
}

// Quote quotes w as one word for a POSIX shell.
func Quote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// capped keeps the first most bytes written to it and counts the rest,
// which it drops: a command that floods its output costs the runner at most
// most bytes. It is safe for the communicator's goroutines to write to it
// while the runner reads it.
type capped struct {
	mu      sync.Mutex
	buf     []byte
	most    int64
	dropped bool
}

func newCapped(most int64) *capped { return &capped{most: most} }

// Write keeps what fits and accepts the rest, so the stream never blocks.
func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	room := c.most - int64(len(c.buf))
	if room < int64(len(p)) {
		c.dropped = true
		p = p[:max(room, 0)]
	}
	c.buf = append(c.buf, p...)
	return n, nil
}

// bytes is a copy of what was kept, and whether anything was dropped.
func (c *capped) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), c.dropped
}
