package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
	"github.com/bakeryhq/bakery/vuln"
)

// DefaultParallel bounds the registry reads of a Gather in flight.
const DefaultParallel = 4

// Options says what a report covers and what it trusts.
type Options struct {
	Config *config.Config
	// Verifier is what is trusted: the keys, and the predicates required.
	Verifier *attest.Verifier
	// Targets and Environments narrow the report (none: every one).
	Targets      []string
	Environments []string
	// Parallel bounds how many histories and digests are read at once;
	// default DefaultParallel.
	Parallel int
	// Now is when the report is made (zero: the current time); ages are
	// counted up to it.
	Now time.Time
}

// Gather reads the report from the registry: what every environment runs
// for every target (promote.CurrentStatus), each environment's receipted
// history, and for each digest run somewhere its verification, platforms,
// provenance, signatures, attestations, receipts, SBOMs, test evidence,
// known vulnerabilities, and its SBOM and vulnerability delta against what
// the environment ran before. An unknown target or environment
// is an error. An environment whose registry cannot be reached is named in
// Report.Unreachable, its cells say why, and the report of the others comes
// with promote.Unreachable's error (failure.Unavailable), for the caller to
// write it and fail after; whatever does not verify is kept and marked.
func Gather(ctx context.Context, opts Options) (*Report, error) {
	targets, envs, err := opts.scope()
	if err != nil {
		return nil, err
	}
	if opts.Parallel < 1 {
		opts.Parallel = DefaultParallel
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	scoped := *opts.Config
	scoped.Targets = map[string]*config.Target{}
	for _, t := range targets {
		scoped.Targets[t] = opts.Config.Targets[t]
	}
	st, err := promote.CurrentStatus(ctx, &scoped, opts.Verifier)
	if err != nil && (st == nil || failure.ClassOf(err) != failure.Unavailable) {
		return nil, err
	}
	revs, err := revoke.Load(ctx, opts.Config, opts.Verifier)
	if err != nil {
		return nil, err
	}
	r := &Report{Generated: opts.Now.UTC(), Targets: targets, Environments: envs,
		Revocations: revs.Entries(), RevocationProblems: revs.Ignored, Cells: []Cell{}, Digests: []Digest{}}
	g := &gatherer{opts: opts, runs: map[string][]string{}, down: map[string]error{},
		sup: vuln.NewSuppressions(ctx, opts.Config, opts.Verifier.Keys())}
	for _, s := range st {
		if s.Unreachable != "" {
			g.down[s.Environment] = errors.New(s.Unreachable)
		} else if s.Digest != "" {
			g.runs[s.Target+"@"+s.Digest] = append(g.runs[s.Target+"@"+s.Digest], s.Environment)
		}
		if slices.Contains(envs, s.Environment) {
			r.Cells = append(r.Cells, Cell{Status: s, Age: age(s.Time, opts.Now), History: []promote.Entry{}})
		}
	}
	r.Unreachable = g.unreachable(envs)
	if err := g.histories(ctx, r.Cells); err != nil {
		return nil, err
	}
	if r.Digests, err = g.digests(ctx, r.Cells); err != nil {
		return nil, err
	}
	return r, g.partial(envs)
}

// scope checks the targets and environments asked for and returns them in
// the config's order (every one when none is asked for).
func (o Options) scope() (targets, envs []string, err error) {
	for _, t := range o.Targets {
		if _, err := o.Config.LookupTarget(t); err != nil {
			return nil, nil, err
		}
	}
	for _, e := range o.Environments {
		if _, _, err := o.Config.LookupEnvironment(e); err != nil {
			return nil, nil, err
		}
	}
	for _, t := range o.Config.TargetNames() {
		if len(o.Targets) == 0 || slices.Contains(o.Targets, t) {
			targets = append(targets, t)
		}
	}
	for _, e := range o.Config.Environments {
		if len(o.Environments) == 0 || slices.Contains(o.Environments, e.Name) {
			envs = append(envs, e.Name)
		}
	}
	return targets, envs, nil
}

// gatherer is the state of one Gather.
type gatherer struct {
	opts Options
	// runs lists, by target@digest, the environments that run it now
	// (every environment, not only the report's).
	runs map[string][]string
	// down says, by environment, why its registry could not be read.
	down map[string]error
	// sup are bakery.yaml's VEX files and waivers, read once: every
	// digest's vulnerabilities are judged with them.
	sup *vuln.Suppressions
}

// unreachable names the environments of envs whose registry could not be
// read, in envs' order.
func (g *gatherer) unreachable(envs []string) []Unreachable {
	var out []Unreachable
	for _, name := range envs {
		if err, ok := g.down[name]; ok {
			env, _, _ := g.opts.Config.LookupEnvironment(name)
			out = append(out, Unreachable{Environment: name, Repository: env.Repository, Problem: err.Error()})
		}
	}
	return out
}

// partial is the error of a report that could not read some of envs:
// promote.Unreachable's, naming them; nil when every one was read.
func (g *gatherer) partial(envs []string) error {
	down := map[string]error{}
	for _, name := range envs {
		if err, ok := g.down[name]; ok {
			down[name] = err
		}
	}
	return promote.Unreachable(g.opts.Config, down)
}

// histories gives every cell its receipted history (the one status read
// for drift, else read now, concurrently) and the digest each environment
// ran before its current one. A history that cannot be read is the cell's
// Problem; only an outage fails the report.
func (g *gatherer) histories(ctx context.Context, cells []Cell) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(g.opts.Parallel)
	for i := range cells {
		c := &cells[i]
		if c.Unreachable != "" {
			continue // nothing of it can be read
		}
		if c.Status.History != nil {
			c.History, c.Previous = c.Status.History, previous(c.Status.History, c.Digest)
			continue
		}
		eg.Go(func() error {
			env, _, err := g.opts.Config.LookupEnvironment(c.Environment)
			if err != nil {
				return err
			}
			hist, err := promote.HistoryWithTests(ectx, g.opts.Verifier, c.Target, env)
			if err != nil {
				if failure.ClassOf(err) == failure.Unavailable {
					return err
				}
				c.Problem = cause(err)
				return nil
			}
			if hist != nil {
				c.History = hist
			}
			c.Previous = previous(hist, c.Digest)
			return nil
		})
	}
	return eg.Wait()
}

// previous is the digest an environment ran before current: the newest
// passed receipt for another digest older than current's newest receipt
// (or than any receipt, when current holds none).
func previous(hist []promote.Entry, current string) string {
	end := len(hist)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Digest == current {
			end = i
			break
		}
	}
	for i := end - 1; i >= 0; i-- {
		if hist[i].Digest != current && hist[i].Result == receipt.Passed {
			return hist[i].Digest
		}
	}
	return ""
}

// digests gathers one Digest for every target and digest the cells run,
// concurrently, and links the cells to their pages.
func (g *gatherer) digests(ctx context.Context, cells []Cell) ([]Digest, error) {
	var keys []string
	groups := map[string][]*Cell{}
	for i := range cells {
		c := &cells[i]
		if c.Digest == "" {
			continue
		}
		k := c.Target + "@" + c.Digest
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	out := make([]Digest, len(keys))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(g.opts.Parallel)
	for i, k := range keys {
		eg.Go(func() error {
			d, err := g.digest(ectx, groups[k])
			out[i] = d
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for i, k := range keys {
		for _, c := range groups[k] {
			c.Page = out[i].Page
			if v := out[i].Vulnerabilities; v != nil {
				c.Vulnerabilities = &v.VulnCounts
			}
		}
	}
	return out, nil
}

// age renders how long ago an RFC 3339 time was, to the minute.
func age(t string, now time.Time) string {
	at, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return ""
	}
	d := now.Sub(at)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// cause is an error's message without its subject and hint when it is
// classified (the report names the subject beside it), on one line.
func cause(err error) string {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Err != nil {
		err = fe.Err
	}
	return strings.TrimSpace(failure.OneLine(err.Error()))
}
