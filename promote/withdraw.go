package promote

import (
	"context"
	"fmt"
	"time"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// Withdrawn is one environment's AMIs of a revoked (or restored) machine image.
type Withdrawn struct {
	Target      string            `json:"target"`
	Environment string            `json:"environment"`
	Digest      string            `json:"digest"`
	AMIs        map[string]string `json:"amis"`
	// Action is "deprecated and disabled", "deprecation scheduled" or "enabled".
	Action string `json:"action"`
}

// WithdrawAMIs applies revocation entries to the AMIs of machine images: in
// every environment with aws settings whose target repository holds the
// digest with a receipt, its AMIs are deprecated and disabled (a revocation
// in force now), deprecated at the effective time only (a scheduled one:
// EC2 cannot schedule the disabling), or enabled again (a restore).
func (p *Promoter) WithdrawAMIs(ctx context.Context, entries []revoke.Entry) ([]Withdrawn, error) {
	newClouds := p.opts.Clouds
	if newClouds == nil {
		newClouds = DefaultClouds
	}
	cfg := p.opts.Config
	var out []Withdrawn
	for _, e := range entries {
		if e.Target == "" {
			continue
		}
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			if env.AWS == nil {
				continue
			}
			amis, err := p.amisOf(ctx, e.Target, env, e.Digest)
			if err != nil || len(amis) == 0 {
				if err != nil {
					return out, err
				}
				continue
			}
			clouds, err := newClouds(ctx, env.AWS)
			if err != nil {
				return out, err
			}
			w := Withdrawn{Target: e.Target, Environment: env.Name, Digest: e.Digest, AMIs: amis}
			if w.Action, err = apply(ctx, clouds, e, amis); err != nil {
				return out, err
			}
			out = append(out, w)
		}
	}
	return out, nil
}

// apply withdraws or reinstates amis as e says.
func apply(ctx context.Context, clouds Clouds, e revoke.Entry, amis map[string]string) (string, error) {
	if e.Action == revoke.ActionRestore {
		return "enabled", clouds.Reinstate(ctx, amis)
	}
	at, err := time.Parse(revoke.TimeFormat, e.EffectiveAt)
	if err != nil {
		return "", failure.New(failure.Internal, e.Digest, fmt.Errorf("effective time %q: %w", e.EffectiveAt, err), "")
	}
	if at.After(time.Now()) {
		// Deprecation only: EC2 has no scheduled disabling. Run bakery
		// revoke again once the time has come to disable them.
		return "deprecation scheduled", clouds.Withdraw(ctx, amis, at, false)
	}
	return "deprecated and disabled", clouds.Withdraw(ctx, amis, at, true)
}

// amisOf is env's AMIs of target's machine image digest, from its verified
// receipt there; none when the digest is not a machine image or holds no
// receipt in env.
func (p *Promoter) amisOf(ctx context.Context, target string, env *config.Environment, digest string) (map[string]string, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	d := tag.Context().Digest(digest)
	rep, err := p.opts.Verifier.Verify(ctx, d)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		return nil, nil // not in this environment, or not verifiable there
	}
	if kind, _, err := kindOf(ctx, d); err != nil || kind != string(builders.MachineImage) {
		return nil, err
	}
	return receipt.AMIs(rep, receipt.Bind(p.opts.Config, target), env.Name), nil
}
