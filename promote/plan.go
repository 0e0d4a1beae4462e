package promote

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/receipt"
)

// Step is one target's part of a promotion of many targets: the Request to
// run, or why there is nothing to run (Skip).
type Step struct {
	Request
	// Skip, when set, says why the target is left alone; it is not a failure.
	Skip string
	// Refused, when set, is why the step must not run: the step's failure,
	// reported without running it.
	Refused error
	// pin is the rollback that refused the step.
	pin *Pin
}

// Built is one digest a `bakery build` produced (its --metadata-file).
type Built struct {
	Target, Repository, Digest string
}

// placed is what an environment's tag points at for a target, and the time
// of the newest verified, passing receipt of that digest for the
// environment ("" when the digest has none, or does not verify).
type placed struct {
	digest, time string
	// rep is the digest's verification report, which the promotion of
	// this digest from here reuses rather than verify it again.
	rep *attest.Report
}

// place reads env's tag for target.
func (p *Promoter) place(ctx context.Context, target string, env *config.Environment) (placed, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return placed{}, err
	}
	d, err := registry.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		return placed{}, nil
	}
	if err != nil {
		return placed{}, err
	}
	out := placed{digest: d.DigestStr()}
	rep, err := p.opts.Verifier.Verify(ctx, d)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return out, err
		}
		return out, nil // not verifiable: not a receipted digest
	}
	out.rep = rep
	for _, r := range receipt.Read(rep, receipt.Bind(p.opts.Config, target)) {
		if r.Environment == env.Name && r.Result == receipt.Passed && r.Time > out.time {
			out.time = r.Time // fixed-width times
		}
	}
	return out, nil
}

// Plan says what `bakery promote [TARGET...] [--to ENV]` does for each of
// targets, reading every target concurrently (at most parallel at once):
//   - with to: promote from the environment before it (or from) into it,
//     unless the source holds no receipted digest, or to already holds a
//     digest whose receipt is newer than the source's (a hotfix is never
//     overwritten by an older digest);
//   - without to: promote from the environment the target was last built or
//     promoted into (the newest receipt across environments) into the next
//     one, unless that is the last environment.
func (p *Promoter) Plan(ctx context.Context, targets []string, from, to string, parallel int) ([]Step, error) {
	cfg := p.opts.Config
	for _, name := range []string{from, to} {
		if name != "" {
			if _, _, err := cfg.LookupEnvironment(name); err != nil {
				return nil, err
			}
		}
	}
	steps := make([]Step, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i, target := range targets {
		if _, err := cfg.LookupTarget(target); err != nil {
			return nil, err
		}
		g.Go(func() error {
			var err error
			if to == "" {
				steps[i], err = p.next(gctx, target)
			} else {
				steps[i], err = p.into(gctx, target, from, to)
			}
			return err
		})
	}
	return steps, g.Wait()
}

// next is the step of a target with no destination named.
func (p *Promoter) next(ctx context.Context, target string) (Step, error) {
	cfg := p.opts.Config
	newest, at := -1, ""
	var source *attest.Report
	for i := range cfg.Environments {
		pl, err := p.place(ctx, target, &cfg.Environments[i])
		if err != nil {
			return Step{}, err
		}
		if pl.time != "" && pl.time >= at {
			newest, at, source = i, pl.time, pl.rep
		}
	}
	step := Step{Request: Request{Target: target, verified: source}}
	switch {
	case newest < 0:
		step.Skip = "no environment holds a receipted digest: run bakery build first"
	case newest == len(cfg.Environments)-1:
		step.Skip = fmt.Sprintf("last promoted into %s, the last environment", cfg.Environments[newest].Name)
	default:
		step.From, step.To = cfg.Environments[newest].Name, cfg.Environments[newest+1].Name
	}
	return step, nil
}

// into is the step of a target into the named environment.
func (p *Promoter) into(ctx context.Context, target, from, to string) (Step, error) {
	cfg := p.opts.Config
	step := Step{Request: Request{Target: target, From: from, To: to}}
	dst, idx, err := cfg.LookupEnvironment(to)
	if err != nil {
		return step, err
	}
	src := from
	if src == "" {
		if idx == 0 {
			return step, failure.New(failure.Config, "environment "+to, errors.New("is the first environment: builds go there"),
				"promote to a later environment, or pass --from")
		}
		src = cfg.Environments[idx-1].Name
	}
	srcEnv, _, err := cfg.LookupEnvironment(src)
	if err != nil {
		return step, err
	}
	step.From = src
	s, err := p.place(ctx, target, srcEnv)
	if err != nil {
		return step, err
	}
	d, err := p.place(ctx, target, dst)
	if err != nil {
		return step, err
	}
	step.verified = s.rep
	if s.time != "" && d.digest != s.digest {
		// a rollback that holds to away from the source's digest refuses
		// the step, whatever the receipts' times say
		if step.pin, err = p.Pinned(ctx, target, dst, s.digest); err != nil {
			return step, err
		}
		if step.pin != nil {
			step.Refused = pinError(step.Request, *step.pin)
			return step, nil
		}
	}
	switch {
	case s.time == "":
		step.Skip = fmt.Sprintf("%s holds no receipted digest", src)
	case d.digest != s.digest && d.time > s.time:
		step.Skip = fmt.Sprintf("%s runs %s, whose receipt is newer than %s's %s", to, short(d.digest), src, short(s.digest))
	}
	return step, nil
}

// PlanBuilt is the step of each digest a build produced, promoted by digest
// even if a tag has moved since: without to, from the environment whose
// repository it was pushed to into the next one; with to, from the
// environment before to (or from) into to, so that one metadata file drives
// every hop. A source environment the digest was not built into must hold a
// verified receipt of that very digest for the target (it was promoted
// there); otherwise the step is refused, naming the promotion that is
// missing.
func (p *Promoter) PlanBuilt(ctx context.Context, file string, built []Built, from, to string) ([]Step, error) {
	cfg := p.opts.Config
	var steps []Step
	for _, b := range built {
		if _, err := cfg.LookupTarget(b.Target); err != nil {
			return nil, err
		}
		home := -1
		for i := range cfg.Environments {
			if tag, err := cfg.Environments[i].Locate(b.Target); err == nil && tag.Context().String() == b.Repository {
				home = i
				break
			}
		}
		if home < 0 {
			return nil, failure.New(failure.Config, "target "+b.Target, fmt.Errorf("was built into %s, which is no environment's repository", b.Repository),
				"promote with the config the build used")
		}
		step := Step{Request: Request{Target: b.Target, Digest: b.Digest, fromBuild: true}}
		src, dst := home, home+1
		if to != "" {
			var err error
			if _, dst, err = cfg.LookupEnvironment(to); err != nil {
				return nil, err
			}
			src = dst - 1
			if from != "" {
				if _, src, err = cfg.LookupEnvironment(from); err != nil {
					return nil, err
				}
			}
		}
		home0 := cfg.Environments[home].Name
		switch {
		case to == "" && home == len(cfg.Environments)-1:
			step.Skip = home0 + " is the last environment"
			steps = append(steps, step)
			continue
		case dst <= home:
			return nil, failure.New(failure.Config, "target "+b.Target, fmt.Errorf("was built into %s, which is not before %s",
				home0, cfg.Environments[dst].Name), "promote it into an environment after "+home0)
		case src < home || src >= dst:
			return nil, failure.New(failure.Config, "--from "+cfg.Environments[max(src, 0)].Name,
				fmt.Errorf("does not lie between %s, where the build went, and %s", home0, cfg.Environments[dst].Name), "omit --from")
		}
		step.From, step.To = cfg.Environments[src].Name, cfg.Environments[dst].Name
		if src != home {
			has, err := p.holdsReceipt(ctx, b.Target, &cfg.Environments[src], b.Digest)
			if err != nil {
				return nil, err
			}
			if !has {
				step.Refused = failure.New(failure.Policy, fmt.Sprintf("promotion of %s %s into %s", b.Target, short(b.Digest), step.To),
					fmt.Errorf("the digest %s built into %s was never promoted into %s", b.Digest, home0, step.From),
					fmt.Sprintf("promote it there first: bakery promote --metadata-file %s --to %s", file, step.From))
			}
		}
		steps = append(steps, step)
	}
	return steps, nil
}

// holdsReceipt says whether digest, in env's repository, holds a verified
// PASSED receipt for target in env.
func (p *Promoter) holdsReceipt(ctx context.Context, target string, env *config.Environment, digest string) (bool, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return false, err
	}
	d, err := name.NewDigest(tag.Context().String()+"@"+digest, nameOpts(tag.Context())...)
	if err != nil {
		return false, failure.New(failure.Config, digest, err, "use sha256:<64 hex digits>")
	}
	rep, err := receipts(ctx, d, p.opts.Verifier)
	switch {
	case failure.ClassOf(err) == failure.Unavailable:
		return false, err
	case err != nil:
		return false, nil // not there, or not verifiable: no receipt
	}
	return receipt.Has(rep, receipt.Bind(p.opts.Config, target), env.Name), nil
}

// Outcome is what one Step came to.
type Outcome struct {
	Step   Step
	Result *Result
	Err    error
	// NotRun says --fail-fast stopped the step before it started.
	NotRun bool
}

// PromoteAll runs steps concurrently, at most parallel at once. A failure
// does not stop the others unless failFast, which starts no new step after
// the first failure (steps already running finish: a promotion is never cut
// in half). report, if not nil, is called as each step ends.
func (p *Promoter) PromoteAll(ctx context.Context, steps []Step, parallel int, failFast bool, report func(Outcome)) []Outcome {
	out := make([]Outcome, len(steps))
	sem := make(chan struct{}, max(parallel, 1))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed bool
	)
	for i, s := range steps {
		out[i].Step = s
		if s.Skip != "" || s.Refused != nil {
			mu.Lock()
			out[i].Err = s.Refused
			failed = failed || s.Refused != nil
			if report != nil {
				report(out[i])
			}
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		mu.Lock()
		stop := failFast && failed
		mu.Unlock()
		if stop {
			<-sem
			out[i].NotRun = true
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := p.Promote(ctx, s.Request)
			mu.Lock()
			defer mu.Unlock()
			out[i].Result, out[i].Err = res, err
			failed = failed || err != nil
			if report != nil {
				report(out[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// Worst is the failure of outcomes with the highest exit code, or nil when
// every step succeeded or was skipped.
func Worst(outcomes []Outcome) error {
	var worst error
	for _, o := range outcomes {
		if o.Err != nil && (worst == nil || failure.ClassOf(o.Err).ExitCode() > failure.ClassOf(worst).ExitCode()) {
			worst = o.Err
		}
	}
	return worst
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}
