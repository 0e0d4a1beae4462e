package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	gatewayapi "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"

	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Test opens a gateway session on one node that runs platform natively (or
// under emulation where builder.emulation allows) and calls fn with an
// imagetest.Runner whose containers are fresh containers of image (a
// reference by digest, as pushed), as buildx's debug shell starts them: no
// Docker engine, the exact bytes that were pushed. Processes run as user in
// cwd (the image config's User and WorkingDir). It returns the node's name.
func (b *Builder) Test(ctx context.Context, image, platform, user, cwd string, fn func(context.Context, imagetest.Runner) error) (string, error) {
	subject := fmt.Sprintf("image %s (%s)", image, platform)
	if !strings.Contains(image, "@sha256:") {
		return "", failure.New(failure.Config, subject, errors.New("not a reference by digest"), "run tests against the digest the build pushed")
	}
	plat, err := platforms.Parse(platform)
	if err != nil {
		return "", failure.New(failure.Config, subject, err, "name a platform as os/arch[/variant]")
	}
	n, err := b.fleet.acquire(ctx, []string{platform}, map[*node]bool{})
	if err != nil {
		return "", failure.New(failure.Unavailable, subject, err, "start a node that runs it, or check builder.nodes and builder.emulation")
	}
	var fnErr error
	_, err = n.client.Build(ctx, client.SolveOpt{}, "bakery-test", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
		ref, err := solveImage(ctx, c, image, plat)
		if err != nil {
			return nil, err
		}
		fnErr = fn(ctx, newRunner(c, ref, plat, user, cwd))
		return gateway.NewResult(), nil
	}, nil)
	if b.fleet.release(ctx, n, err) || err != nil {
		return n.name, failure.New(failure.Unavailable, subject, fmt.Errorf("on %s: %w", n, err), "check that the node is up and can pull the image")
	}
	return n.name, fnErr
}

// solveImage pulls image (by digest) for plat on the node.
func solveImage(ctx context.Context, c gateway.Client, image string, plat platforms.Platform) (gateway.Reference, error) {
	def, err := llb.Image(image, llb.Platform(plat)).Marshal(ctx, llb.Platform(plat))
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, err
	}
	return res.SingleRef()
}

// runner starts containers of one solved image in a gateway session.
type runner struct {
	c         gateway.Client
	ref       gateway.Reference
	plat      platforms.Platform
	user, cwd string
	// keeper is the image's keeper program (see keepers), looked up once.
	keeper func(context.Context) string
}

var _ imagetest.FreshRunner = (*runner)(nil)

// testParallel is how many of a suite's command tests run at once on a
// node, each in its own container, as buildx runs a bake's targets.
const testParallel = 4

func newRunner(c gateway.Client, ref gateway.Reference, plat platforms.Platform, user, cwd string) *runner {
	r := &runner{c: c, ref: ref, plat: plat, user: user, cwd: cwd}
	var once sync.Once
	var found string
	r.keeper = func(ctx context.Context) string {
		once.Do(func() {
			for _, p := range keepers {
				if _, err := ref.StatFile(ctx, gateway.StatRequest{Path: p}); err == nil {
					found = p
					return
				}
			}
		})
		return found
	}
	return r
}

// Parallel is how many tests may run at once: every container is fresh.
func (r *runner) Parallel() int { return testParallel }

// keepers are where an image may have cat, which buildkit's own tests keep
// a container up with (reading a pipe that stays open until Release).
var keepers = []string{"/bin/cat", "/usr/bin/cat", "/bin/busybox"}

// Start creates a container, its network off unless network is set. A
// gateway container lives as long as its first process, so when the image
// has cat, cat reading an open pipe is that process and every Run is a
// second one; in an image without cat (distroless) the first Run is the
// container's life, and a second Run reports that it cannot run.
func (r *runner) Start(ctx context.Context, network bool) (imagetest.Container, error) {
	return r.start(ctx, network, r.keeper(ctx))
}

// StartOnce creates a container for one Run, which is its first and only
// process: no keeper to start, to feed and to stop.
func (r *runner) StartOnce(ctx context.Context, network bool) (imagetest.Container, error) {
	return r.start(ctx, network, "")
}

// start creates a container kept up by keeper ("": none).
func (r *runner) start(ctx context.Context, network bool, keeper string) (imagetest.Container, error) {
	net := pb.NetMode_NONE
	if network {
		net = pb.NetMode_UNSET
	}
	ctr, err := r.c.NewContainer(ctx, gateway.NewContainerRequest{
		Mounts:   []gateway.Mount{{Dest: "/", MountType: pb.MountType_BIND, Ref: r.ref}},
		NetMode:  net,
		Platform: &pb.Platform{OS: r.plat.OS, Architecture: r.plat.Architecture, Variant: r.plat.Variant},
	})
	if err != nil {
		return nil, fmt.Errorf("create a container: %w", err)
	}
	c := &container{ctr: ctr, user: r.user, cwd: r.cwd}
	if keeper == "" {
		return c, nil
	}
	in, keep := io.Pipe()
	args := []string{keeper}
	if path.Base(keeper) == "busybox" {
		args = append(args, "cat")
	}
	if _, err := ctr.Start(ctx, gateway.StartRequest{Args: args, Cwd: "/", Stdin: in}); err != nil {
		_ = ctr.Release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start %s to keep the container up: %w", keeper, err)
	}
	c.keep = keep
	return c, nil
}

// container is one gateway container; Release kills what still runs in it
// (a forked child, a process past its time) and frees it.
type container struct {
	ctr       gateway.Container
	user, cwd string
	// keep is the pipe the keeper process reads; nil without a keeper.
	keep *io.PipeWriter
	runs int
}

func (c *container) Release(ctx context.Context) error {
	if c.keep != nil {
		_ = c.keep.Close()
	}
	return c.ctr.Release(context.WithoutCancel(ctx))
}

// Run starts cmd and waits for it, killing it at its time limit.
func (c *container) Run(ctx context.Context, cmd imagetest.Command) (imagetest.Output, error) {
	if c.runs++; c.keep == nil && c.runs > 1 {
		return imagetest.Output{ExitCode: 127, Stderr: []byte("bakery: this image has no cat to keep a container up between a test's setup, command and teardown: write the test without setup and teardown")}, nil
	}
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
	}
	stdout, stderr := &capped{max: cmd.MaxOutput}, &capped{max: cmd.MaxOutput}
	cwd := c.cwd
	if cwd == "" {
		cwd = "/"
	}
	proc, err := c.ctr.Start(ctx, gateway.StartRequest{Args: cmd.Args, Env: cmd.Env, Cwd: cwd, User: c.user, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return imagetest.Output{}, fmt.Errorf("start %q: %w", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	var out imagetest.Output
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = proc.Signal(context.WithoutCancel(ctx), syscall.SIGKILL)
		err = <-done
		out.TimedOut = true
	}
	out.Stdout, out.Stderr = stdout.buf.Bytes(), stderr.buf.Bytes()
	out.Truncated = stdout.truncated || stderr.truncated
	var exit *gatewayapi.ExitError
	switch {
	case out.TimedOut:
		out.ExitCode = 128 + int(syscall.SIGKILL)
	case errors.As(err, &exit):
		out.ExitCode = int(exit.ExitCode)
	case err != nil:
		return out, fmt.Errorf("run %q: %w", strings.Join(cmd.Args, " "), err)
	}
	return out, nil
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	buf       bytes.Buffer
	max       int64
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := len(p)
	if c.max > 0 {
		room = int(min(c.max-int64(c.buf.Len()), int64(len(p))))
	}
	if room < len(p) {
		c.truncated = true
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	return len(p), nil
}

func (c *capped) Close() error { return nil }
