package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
)

// Rollback points env's tag back at a digest that holds a verified receipt
// for env: to, or by default the most recent such digest other than the
// current one. It verifies that digest and records a receipt of its own.
func (p *Promoter) Rollback(ctx context.Context, target, envName, to string) (*Result, error) {
	cfg := p.opts.Config
	if _, err := cfg.LookupTarget(target); err != nil {
		return nil, err
	}
	env, _, err := cfg.LookupEnvironment(envName)
	if err != nil {
		return nil, err
	}
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	current := ""
	if d, err := resolveTag(ctx, tag); err == nil {
		current = d.DigestStr()
	} else if failure.ClassOf(err) == failure.Unavailable {
		return nil, err
	}
	hist, err := History(ctx, p.opts.Keys, target, env)
	if err != nil {
		return nil, err
	}
	subject := fmt.Sprintf("rollback of %s in %s", target, env.Name)
	if to, err = pickRollback(hist, current, to, subject); err != nil {
		return nil, err
	}
	dst, err := name.NewDigest(tag.Context().String()+"@"+to, nameOpts(tag.Context())...)
	if err != nil {
		return nil, failure.New(failure.Config, "--to "+to, err, "")
	}
	rep, err := attest.Verify(ctx, dst, p.opts.Keys, attest.RequiredPredicates)
	if err != nil {
		return nil, err
	}
	// A machine image goes back to the AMIs its earlier promotion made.
	res := &Result{Action: receipt.ActionRollback, Target: target, Environment: env.Name, Digest: to, Destination: dst.String(),
		Tag: tag.String(), AMIs: receipt.AMIs(rep, receipt.Bind(cfg, target), env.Name)}
	meta := receipt.Metadata{Action: receipt.ActionRollback, Target: target, Environment: env.Name, From: current, AMIs: res.AMIs}
	return res, p.signAndTag(ctx, res, dst, tag, meta, p.opts.Policies.Digest(), rep.Attestations)
}

// pickRollback returns the digest to roll back to: to, which must hold a
// PASSED receipt in hist (bound to this target and environment; otherwise a
// verification failure), or else the newest such digest other than current.
func pickRollback(hist []Entry, current, to, subject string) (string, error) {
	if to != "" {
		for _, h := range hist {
			if h.Digest == to && h.Result == receipt.Passed {
				return to, nil
			}
		}
		return "", failure.New(failure.Verify, subject+" to "+to,
			errors.New("that digest holds no receipt for this environment"), "roll back only to a digest that was promoted here; see bakery history")
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Digest != current && hist[i].Result == receipt.Passed {
			return hist[i].Digest, nil
		}
	}
	return "", failure.New(failure.Config, subject,
		errors.New("no earlier digest holds a receipt for this environment"), "see bakery history")
}
