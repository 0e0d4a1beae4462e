package buildkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// node is one buildkitd of the fleet.
type node struct {
	name    string
	address string
	client  *client.Client
	info    builders.Info
	// native are the platforms the node builds natively: its configured
	// platforms, else every platform its workers report.
	native []string
	max    int
	// running is how many solves it runs now; down, when set, is why it
	// is no longer given any.
	running int
	down    error
}

func (n *node) String() string { return fmt.Sprintf("buildkitd node %q (%s)", n.name, n.address) }

// fleet schedules solves over the nodes: each on a healthy node that builds
// its platforms natively (or, with emulation allowed and no such node, on
// any healthy node), least loaded first, within each node's bound.
type fleet struct {
	mu        sync.Mutex
	nodes     []*node
	emulation bool
	// changed is closed and replaced whenever a slot frees or a node goes
	// down, waking the solves that wait for a node.
	changed chan struct{}
}

// connect dials every node at once and asks each for its version and its
// workers' platforms. A node that refuses bakery's TLS is a config error
// naming it; a node that cannot be reached is marked down, and only a fleet
// with no node up is an error (failure.Unavailable).
func connect(ctx context.Context, cfg config.Builder, dir string) (*fleet, error) {
	nodes := cfg.Fleet()
	f := &fleet{nodes: make([]*node, len(nodes)), emulation: cfg.EmulationAllowed(), changed: make(chan struct{})}
	var g errgroup.Group
	errs := make([]error, len(nodes))
	for i, nc := range nodes {
		g.Go(func() error {
			f.nodes[i], errs[i] = dial(ctx, nc, dir)
			return nil
		})
	}
	_ = g.Wait() // each node's error is in errs: the first in config order is reported
	for _, err := range errs {
		if err != nil {
			f.close()
			return nil, err
		}
	}
	var downs []string
	for _, n := range f.nodes {
		if n.down == nil {
			return f, nil
		}
		downs = append(downs, fmt.Sprintf("%s: %v", n, n.down))
	}
	subject := "buildkitd at " + nodes[0].Address
	if len(nodes) > 1 {
		subject = "every buildkitd node"
	}
	return nil, failure.New(failure.Unavailable, subject, errors.New(strings.Join(downs, "; ")),
		"start it with `make up`, or point --builder / BAKERY_BUILDER_ADDRESS / builder.address (or builder.nodes) at a running buildkitd")
}

// ClientOptions are the BuildKit client options of node nc: its TLS files,
// relative ones resolved against dir.
func ClientOptions(nc config.Node, dir string) []client.ClientOpt {
	var opts []client.ClientOpt
	if nc.TLS.CACert != "" {
		opts = append(opts, client.WithServerConfig(nc.TLS.ServerName, abs(dir, nc.TLS.CACert)))
	}
	if nc.TLS.Cert != "" {
		opts = append(opts, client.WithCredentials(abs(dir, nc.TLS.Cert), abs(dir, nc.TLS.Key)))
	}
	return opts
}

func dial(ctx context.Context, nc config.Node, dir string) (*node, error) {
	n := &node{name: nc.Name, address: nc.Address, max: nc.MaxParallel, native: normalize(nc.Platforms)}
	c, err := client.New(ctx, nc.Address, ClientOptions(nc, dir)...)
	if err != nil {
		return n, failure.New(failure.Config, n.String(), err, "fix its address and TLS files")
	}
	n.client = c
	infoCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	info, err := c.Info(infoCtx)
	if err == nil {
		var workers []*client.WorkerInfo
		if workers, err = c.ListWorkers(infoCtx); err == nil && len(n.native) == 0 {
			for _, w := range workers {
				for _, p := range w.Platforms {
					n.native = append(n.native, platforms.Format(platforms.Normalize(p)))
				}
			}
		}
	}
	if err != nil {
		if !tlsRefused(err) {
			if perr := probeTLS(ctx, nc, dir); perr != nil {
				err = perr
			}
		}
		if tlsRefused(err) {
			return n, failure.New(failure.Config, n.String(), fmt.Errorf("TLS refused: %s", failure.OneLine(err.Error())),
				"give bakery a client certificate the node trusts and the CA that signed the node's (its tls files)")
		}
		n.down = unreachable(err)
		return n, nil
	}
	n.info = builders.Info{Name: "buildkit", Version: info.BuildkitVersion.Version}
	return n, nil
}

// probeTLS asks a tcp:// node with TLS files for its answer to bakery's
// client certificate. Under TLS 1.3 the node refuses a certificate after
// the client's handshake is done, so gRPC may see only a broken pipe; the
// probe reads the node's alert instead. It returns that refusal, or nil.
func probeTLS(ctx context.Context, nc config.Node, dir string) error {
	host, ok := strings.CutPrefix(nc.Address, "tcp://")
	if !ok || nc.TLS.CACert == "" {
		return nil
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(abs(dir, nc.TLS.CACert))
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		return nil
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: nc.TLS.ServerName, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = strings.Cut(host, ":")
	}
	if nc.TLS.Cert != "" {
		pair, err := tls.LoadX509KeyPair(abs(dir, nc.TLS.Cert), abs(dir, nc.TLS.Key))
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	d := tls.Dialer{Config: cfg}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := d.DialContext(pctx, "tcp", host)
	if err != nil {
		if tlsRefused(err) {
			return err
		}
		return nil
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil && tlsRefused(err) {
		return err
	}
	return nil
}

// tlsRefused says a connection failed in the TLS handshake: a certificate
// the other side does not trust, or none.
func tlsRefused(err error) bool {
	msg := err.Error()
	for _, s := range []string{"tls:", "x509:", "certificate", "authentication handshake failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func normalize(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if pl, err := platforms.Parse(p); err == nil {
			p = platforms.Format(platforms.Normalize(pl))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func (f *fleet) close() {
	for _, n := range f.nodes {
		if n != nil && n.client != nil {
			n.client.Close()
		}
	}
}

// natively says n builds every one of plats natively.
func (n *node) natively(plats []string) bool {
	for _, p := range plats {
		if !slices.Contains(n.native, p) {
			return false
		}
	}
	return true
}

// candidates are the healthy nodes not in skip that build plats natively,
// or, when none does and emulation is allowed, every healthy one.
func (f *fleet) candidates(plats []string, skip map[*node]bool) []*node {
	var native, any []*node
	for _, n := range f.nodes {
		if n.down != nil || skip[n] {
			continue
		}
		any = append(any, n)
		if n.natively(plats) {
			native = append(native, n)
		}
	}
	if len(native) > 0 || !f.emulation {
		return native
	}
	return any
}

// check fails, before anything is built, when a platform of t has no node
// that can build it.
func (f *fleet) check(t *config.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range normalize(t.Platforms) {
		if len(f.candidates([]string{p}, nil)) > 0 {
			continue
		}
		var have []string
		for _, n := range f.nodes {
			state := strings.Join(n.native, ",")
			if n.down != nil {
				state = "down"
			}
			have = append(have, fmt.Sprintf("%s [%s]", n.name, state))
		}
		return failure.New(failure.Config, fmt.Sprintf("target %q", t.Name),
			fmt.Errorf("no buildkitd node builds %s natively (%s) and builder.emulation is false", p, strings.Join(have, ", ")),
			"add a node that builds it to builder.nodes, or set builder.emulation: true")
	}
	return nil
}

// splits says a target of plats is built one platform per solve: no
// healthy node builds all of them natively, and there is more than one
// healthy node to spread them over (a fleet of one builds them in one
// solve, as buildkitd alone does, emulating what it must).
func (f *fleet) splits(plats []string) bool {
	if len(plats) < 2 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	healthy := 0
	for _, n := range f.nodes {
		if n.down == nil {
			healthy++
			if n.natively(plats) {
				return false
			}
		}
	}
	return healthy > 1
}

// acquire waits for the least loaded candidate node with a free slot and
// takes the slot; it fails when no candidate is left.
func (f *fleet) acquire(ctx context.Context, plats []string, skip map[*node]bool) (*node, error) {
	for {
		f.mu.Lock()
		cands := f.candidates(plats, skip)
		if len(cands) == 0 {
			f.mu.Unlock()
			return nil, fmt.Errorf("no healthy buildkitd node left that builds %s", strings.Join(plats, ", "))
		}
		var best *node
		for _, n := range cands {
			if n.running < n.max && (best == nil || n.running*best.max < best.running*n.max) {
				best = n
			}
		}
		if best != nil {
			best.running++
			f.mu.Unlock()
			return best, nil
		}
		wait := f.changed
		f.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release frees n's slot after a solve. When the solve failed and n no
// longer answers, n is marked down and release reports it, so the caller
// builds again elsewhere; an error on a node that answers (a failing
// Dockerfile step) is not the node's fault.
func (f *fleet) release(ctx context.Context, n *node, solveErr error) (down bool) {
	if solveErr != nil && ctx.Err() == nil {
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.client.Info(probe)
		cancel()
		if err != nil {
			down = true
			f.mu.Lock()
			n.down = unreachable(err)
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	n.running--
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return down
}

// Down lists the nodes that are marked down, and why.
func (b *Builder) Down() []string {
	b.fleet.mu.Lock()
	defer b.fleet.mu.Unlock()
	var out []string
	for _, n := range b.fleet.nodes {
		if n.down != nil {
			out = append(out, fmt.Sprintf("%s is down (%v): its builds go to the other nodes", n, n.down))
		}
	}
	return out
}
