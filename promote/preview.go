package promote

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/deploy/gitops"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// Planned is what one step of a plan would do, and why (bakery promote
// --dry-run): the digest is resolved and the pins read, nothing is copied,
// signed or tagged. The destination's policies are evaluated only when the
// step runs.
type Planned struct {
	Target string `json:"target"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Digest is the digest that would move; Current is what To's tag
	// points at now ("" when nothing).
	Digest  string `json:"digest,omitempty"`
	Current string `json:"current,omitempty"`
	// Action is promote, nothing (To already runs Digest), skip or refuse.
	Action string `json:"action"`
	Why    string `json:"why"`
	// Pin is the rollback that holds To away from Digest, refusing the
	// step or overridden by it.
	Pin *Pin `json:"pin,omitempty"`
	// ExitCode is the exit code a refused step would fail with.
	ExitCode int `json:"exitCode,omitempty"`
	// Written is what --write would do to each deploy file for Digest,
	// with the diff of each change; nothing is written.
	Written []gitops.Written `json:"written,omitempty"`
}

// Actions of a Planned step.
const (
	PlanPromote = "promote"
	PlanNothing = "nothing"
	PlanSkip    = "skip"
	PlanRefuse  = "refuse"
)

// Preview says what each of steps would do, reading every step
// concurrently (at most parallel at once) and writing nothing. An
// unreachable registry is the error; any other failure of a step is that
// step's refusal.
func (p *Promoter) Preview(ctx context.Context, steps []Step, parallel int) ([]Planned, error) {
	out := make([]Planned, len(steps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i, s := range steps {
		g.Go(func() error {
			pl, err := p.preview(gctx, s)
			if failure.ClassOf(err) == failure.Unavailable {
				return err
			}
			if err != nil {
				pl.Action, pl.Why, pl.ExitCode = PlanRefuse, err.Error(), failure.ClassOf(err).ExitCode()
			}
			out[i] = pl
			return nil
		})
	}
	return out, g.Wait()
}

func (p *Promoter) preview(ctx context.Context, s Step) (Planned, error) {
	pl := Planned{Target: s.Target, From: s.From, To: s.To, Digest: s.Digest, Pin: s.pin}
	if s.pin != nil {
		pl.Digest = s.pin.Digest
	}
	switch {
	case s.Refused != nil:
		return pl, s.Refused
	case s.Skip != "":
		pl.Action, pl.Why = PlanSkip, s.Skip
		return pl, nil
	}
	rt, err := p.resolve(ctx, s.Request)
	if err != nil {
		return pl, err
	}
	pl.From, pl.To, pl.Digest = rt.from.Name, rt.to.Name, rt.src.DigestStr()
	files := gitops.Select(p.opts.Config, rt.to, s.Target, s.Write)
	if err := gitops.Prepare(files); err != nil {
		return pl, err
	}
	cur, err := registry.Resolve(ctx, rt.dstTag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
	case err != nil:
		return pl, err
	default:
		pl.Current = cur.DigestStr()
	}
	if pl.Current == pl.Digest {
		pl.Action, pl.Why = PlanNothing, fmt.Sprintf("%s already runs it", pl.To)
		// a re-run still pins the files
		pl.Written, err = gitops.Apply(files, deployPin(rt.dst), true)
		return pl, err
	}
	if pl.Pin, err = p.Pinned(ctx, s.Target, rt.to, pl.Digest); err != nil {
		return pl, err
	}
	if pl.Pin != nil {
		if err := pinError(s.Request, *pl.Pin); err != nil {
			return pl, err
		}
	}
	switch {
	case s.fromBuild:
		pl.Why = fmt.Sprintf("the digest the build made, by digest from %s", pl.From)
	case s.Digest != "":
		pl.Why = fmt.Sprintf("named by --digest, from %s", pl.From)
	default:
		pl.Why = fmt.Sprintf("%s's tag points at it", pl.From)
	}
	if pl.Pin != nil {
		pl.Why += fmt.Sprintf("; brings back what a rollback held out, because %q", s.Reason)
	}
	if pl.Current == "" {
		pl.Why += fmt.Sprintf("; %s runs nothing yet", pl.To)
	} else {
		pl.Why += fmt.Sprintf("; replaces %s in %s", short(pl.Current), pl.To)
	}
	pl.Action = PlanPromote
	pl.Written, err = gitops.Apply(files, deployPin(rt.dst), true)
	return pl, err
}
