package promote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/receipt"
)

// A machine image promoted (or rolled back) into an environment whose aws
// settings name launch templates and Auto Scaling groups for its target
// (aws.rollout) is rolled out once the promotion is done: package amis makes
// each template's new version and starts each group's instance refresh.
//
// The order is the promotion's own: the templates and groups are checked
// before anything is copied (a missing one is a config error and nothing is
// promoted), and the rollout runs only after the receipt is signed and the
// tag settled, so that instances never run an AMI the environment has no
// receipt for. A rollout that fails after that leaves the promotion standing:
// its error says so, and promoting the same digest again (which finds the
// promotion done) completes the rollout without duplicating anything.

// DefaultWaitInterval is how often Wait polls the refreshes.
const DefaultWaitInterval = 15 * time.Second

// Wait says whether a promotion or rollback waits for its instance
// refreshes to end.
type Wait struct {
	// Timeout, when positive, waits up to that long.
	Timeout time.Duration
	// Interval is the delay between two polls; zero is DefaultWaitInterval.
	Interval time.Duration
	// Progress, when set, gets a line per refresh whose state changed.
	Progress io.Writer
}

// rolloutStep is the rollout part of one promotion, planned before the copy.
type rolloutStep struct {
	clouds Clouds
	req    amis.RolloutRequest
}

// rolloutsOf returns the rollout entries of target in env, each with its
// bakery.yaml key.
func rolloutsOf(cfg *config.Config, target string, env *config.Environment) []amis.Rollout {
	if env.AWS == nil {
		return nil
	}
	idx := -1
	if _, i, ok := cfg.Environment(env.Name); ok {
		idx = i
	}
	var out []amis.Rollout
	for i, r := range env.AWS.Rollout {
		if r.Target != target {
			continue
		}
		out = append(out, amis.Rollout{Key: fmt.Sprintf("environments[%d].aws.rollout[%d]", idx, i), Region: r.Region,
			LaunchTemplate: r.LaunchTemplate, SetDefault: r.SetDefault, Groups: r.AutoScalingGroups,
			MinHealthyPercentage: int32(r.MinHealthy()), AutoRollback: r.Rollback()}) //nolint:gosec // 0..100, validated
	}
	return out
}

// planRollout returns the rollout of target's digest into env, or nil when
// env names no launch template for target; it checks, changing nothing,
// that every template and group exists.
func (p *Promoter) planRollout(ctx context.Context, clouds Clouds, target, digest string, env *config.Environment) (*rolloutStep, error) {
	rollouts := rolloutsOf(p.opts.Config, target, env)
	if len(rollouts) == 0 {
		return nil, nil
	}
	if clouds == nil {
		var err error
		if clouds, err = p.newClouds(ctx, env.AWS); err != nil {
			return nil, err
		}
	}
	if err := clouds.CheckRollout(ctx, rollouts); err != nil {
		return nil, failure.New(failure.ClassOf(err), fmt.Sprintf("roll %s out in %s", target, env.Name), err, "")
	}
	return &rolloutStep{clouds: clouds, req: amis.RolloutRequest{Digest: digest, Environment: env.Name, Target: target, Rollouts: rollouts}}, nil
}

// again says what completes a rollout that failed: a promotion of the same
// digest into the same environment, which finds it done and rolls it out
// (Promoter.rolloutAgain). Named by digest, because the source's tag may
// have moved on since; and for a rollback, because another rollback would go
// back further.
func (s *rolloutStep) again(res *Result) string {
	what := "promotion"
	if res.Action == receipt.ActionRollback {
		what = "rollback"
	}
	return fmt.Sprintf("the %s itself stands (receipt signed, tag moved); complete the rollout with bakery promote %s --to %s --digest %s",
		what, s.req.Target, s.req.Environment, s.req.Digest)
}

func (p *Promoter) newClouds(ctx context.Context, aws *config.AWS) (Clouds, error) {
	newClouds := p.opts.Clouds
	if newClouds == nil {
		newClouds = DefaultClouds
	}
	return newClouds(ctx, aws)
}

// run rolls the environment's AMIs out, records the deployments in res and,
// with w.Timeout, waits for the refreshes. Its errors say that the
// promotion stands.
func (s *rolloutStep) run(ctx context.Context, res *Result, w Wait) error {
	if s == nil {
		return nil
	}
	s.req.AMIs = res.AMIs
	deps, err := s.clouds.Rollout(ctx, s.req)
	res.Rollout = deps
	if err != nil {
		return failure.New(failure.ClassOf(err), fmt.Sprintf("roll %s out in %s", s.req.Target, s.req.Environment), err, s.again(res))
	}
	if w.Timeout <= 0 {
		return nil
	}
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultWaitInterval
	}
	wctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	last := map[string]string{}
	report := func(deps []amis.Deployment) {
		if w.Progress == nil {
			return
		}
		for _, d := range deps {
			if d.RefreshID == "" {
				continue
			}
			line := fmt.Sprintf("%s %d%%", d.State, d.Percentage)
			key := d.Region + "/" + d.Group
			if last[key] != line {
				last[key] = line
				fmt.Fprintf(w.Progress, "rollout: %s in %s (%s v%d): %s\n", d.Group, d.Region, d.LaunchTemplate, d.Version, line)
			}
		}
	}
	report(deps)
	deps, err = amis.Wait(wctx, s.clouds, deps, interval, report)
	res.Rollout = deps
	if err != nil {
		return failure.New(failure.ClassOf(err), fmt.Sprintf("roll %s out in %s", s.req.Target, s.req.Environment), err, "")
	}
	return nil
}

// RolloutStatus fills in Status.Rollout for each machine image (with AMIs)
// whose environment names launch templates for its target: what each
// template's default version runs, whether that is the environment's AMI,
// and each group's newest instance refresh. newClouds nil is DefaultClouds.
// An AWS error leaves the other statuses filled in and is returned, joined.
func RolloutStatus(ctx context.Context, cfg *config.Config, newClouds NewClouds, st []Status) error {
	if newClouds == nil {
		newClouds = DefaultClouds
	}
	var errs []error
	for i := range st {
		s := &st[i]
		if len(s.AMIs) == 0 || s.Unreachable != "" {
			continue
		}
		env, _, ok := cfg.Environment(s.Environment)
		if !ok {
			continue
		}
		rollouts := rolloutsOf(cfg, s.Target, env)
		if len(rollouts) == 0 {
			continue
		}
		clouds, err := newClouds(ctx, env.AWS)
		if err == nil {
			s.Rollout, err = clouds.InspectRollout(ctx, s.AMIs, rollouts)
		}
		if err != nil {
			errs = append(errs, failure.New(failure.ClassOf(err), fmt.Sprintf("rollout of %s in %s", s.Target, s.Environment), err, ""))
		}
	}
	return errors.Join(errs...)
}
