package promote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/deploy/gitops"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// RollbackRequest names what to roll back, to what, and why.
type RollbackRequest struct {
	Target, Env string
	// To is the digest to go back to; by default the digest of the
	// environment's newest receipt when the tag was moved away from it by
	// hand (what bakery status calls expected), else the most recent digest
	// that arrived before the current one.
	To string
	// Reason is recorded in the rollback's receipt.
	Reason string
	// Write lists deployment files declared in Env's deploy.files for
	// Target, pinned to the digest rolled back to once the rollback's
	// receipt is signed and the tag settled (see Request.Write).
	Write []string
	// Wait, with a Timeout, waits for a machine image's instance
	// refreshes (aws.rollout) to end.
	Wait Wait
}

// Rollback is RollbackWith with no reason.
func (p *Promoter) Rollback(ctx context.Context, target, envName, to string) (*Result, error) {
	return p.RollbackWith(ctx, RollbackRequest{Target: target, Env: envName, To: to})
}

// RollbackWith points env's tag back at a digest that holds a verified
// receipt for env (see RollbackRequest.To). It verifies that digest and
// records a receipt of its own, whose From is the digest the tag held: that
// digest is then pinned out of the environment (Pin). Result.From is that
// digest too.
func (p *Promoter) RollbackWith(ctx context.Context, req RollbackRequest) (*Result, error) {
	target, envName, to := req.Target, req.Env, req.To
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
	if err := gitops.Check(cfg, []gitops.Move{{Target: target, Env: env.Name}}, req.Write); err != nil {
		return nil, err
	}
	files := gitops.Select(cfg, env, target, req.Write)
	if err := gitops.Prepare(files); err != nil {
		return nil, err
	}
	current := ""
	if d, err := resolveTag(ctx, tag); err == nil {
		current = d.DigestStr()
	} else if failure.ClassOf(err) == failure.Unavailable {
		return nil, err
	}
	hist, err := History(ctx, p.opts.Verifier, target, env)
	if err != nil {
		return nil, err
	}
	subject := fmt.Sprintf("rollback of %s in %s", target, env.Name)
	explicit := to != ""
	// A tag moved by hand (drift) goes back to where bakery last put it,
	// the digest of the newest receipt; rolling back from there, when that
	// one is revoked, is rolling back from what bakery put there.
	base, restore := current, ""
	if n, ok := Newest(hist); ok && n.Digest != current {
		base = n.Digest
		if !explicit || to == n.Digest {
			restore = n.Digest
		}
	}
	to, dst, rep, err := p.rollbackTarget(ctx, hist, tag, base, restore, to, subject)
	if err != nil {
		return nil, err
	}
	// A machine image goes back to the AMIs its earlier promotion made.
	res := &Result{Action: receipt.ActionRollback, Target: target, Environment: env.Name, From: current, Digest: to, Destination: dst.String(),
		Tag: tag.String(), AMIs: receipt.AMIs(rep, receipt.Bind(cfg, target), env.Name)}
	meta := receipt.Metadata{Action: receipt.ActionRollback, Target: target, Environment: env.Name, From: current, AMIs: res.AMIs, Reason: req.Reason}
	// ... and its instances go back to them (aws.rollout): checked before
	// the receipt, rolled out after it.
	var rollout *rolloutStep
	if len(res.AMIs) > 0 {
		if rollout, err = p.planRollout(ctx, nil, target, to, env); err != nil {
			return res, err
		}
	}
	if err := p.signAndTag(ctx, res, dst, tag, meta, p.opts.Policies.Digest(), rep.Attestations); err != nil {
		return res, err
	}
	if err := writeBack(res, files, dst); err != nil {
		return res, err
	}
	return res, rollout.run(ctx, res, req.Wait)
}

// rollbackTarget picks the digest a rollback goes to (restore, the newest
// receipt's digest of a drifted tag, when it is not revoked; else
// pickRollback's), verified. A digest revoked through its lineage (built on a
// revoked base) is no candidate either: it is checked once verified, and the
// next earlier one tried, unless it was asked for by name (to).
func (p *Promoter) rollbackTarget(ctx context.Context, hist []Entry, tag name.Tag, base, restore, to, subject string) (string, name.Digest, *attest.Report, error) {
	revs, err := p.Revocations(ctx)
	if err != nil {
		return "", name.Digest{}, nil, err
	}
	lin, err := p.Lineage(ctx)
	if err != nil {
		return "", name.Digest{}, nil, err
	}
	explicit := to != ""
	for {
		if _, revoked := revs.Revoked(restore, time.Now()); restore != "" && !revoked {
			to = restore
		} else if to, err = pickRollback(hist, base, to, subject, revs); err != nil {
			return "", name.Digest{}, nil, err
		}
		dst, err := name.NewDigest(tag.Context().String()+"@"+to, nameOpts(tag.Context())...)
		if err != nil {
			return "", name.Digest{}, nil, failure.New(failure.Config, "--to "+to, err, "")
		}
		rep, err := p.opts.Verifier.Verify(ctx, dst)
		if err != nil {
			return "", name.Digest{}, nil, err
		}
		e, revoked, err := lin.Check(ctx, rep, time.Now())
		if err != nil {
			return "", name.Digest{}, nil, err
		}
		if !revoked {
			return to, dst, rep, nil
		}
		if explicit {
			return "", name.Digest{}, nil, failure.New(failure.Policy, subject+" to "+to, fmt.Errorf("that digest is %s", e.Describe()),
				"roll back to another digest (bakery history), or promote a fix")
		}
		revs = revoke.Union(revs, nil)
		revs.Exclude(e)
		to, restore = "", ""
	}
}

// pickRollback returns the digest to roll back to. Rollback never moves an
// environment forward: the candidates are the digests that first arrived in
// the environment (by a build or promotion receipt) before the current one
// did. to, when given, must be one of them (a digest without a receipt here
// is a verification failure; a later one is a policy refusal); by default it
// is the latest of them. A revoked digest is never a candidate.
func pickRollback(hist []Entry, current, to, subject string, revs *revoke.Set) (string, error) {
	first := map[string]string{} // digest -> time of its first arrival
	for _, h := range hist {
		if h.Result != receipt.Passed || h.Action == receipt.ActionRollback {
			continue
		}
		if e, revoked := revs.Revoked(h.Digest, time.Now()); revoked {
			if h.Digest == to {
				return "", failure.New(failure.Policy, subject+" to "+to, fmt.Errorf("that digest is %s", e.Describe()),
					"roll back to another digest (bakery history), or promote a fix")
			}
			if h.Digest != current {
				continue
			}
		}
		if t, ok := first[h.Digest]; !ok || h.Time < t {
			first[h.Digest] = h.Time
		}
	}
	currentAt, receipted := first[current]
	earlier := func(d string) bool {
		t, ok := first[d]
		return ok && d != current && (!receipted || t < currentAt)
	}
	if to != "" {
		if _, ok := first[to]; !ok {
			return "", failure.New(failure.Verify, subject+" to "+to,
				errors.New("that digest holds no receipt for this target and environment"), "roll back only to a digest that was promoted here; see bakery history")
		}
		if !earlier(to) {
			return "", failure.New(failure.Policy, subject+" to "+to,
				errors.New("that digest arrived after the one the environment runs: a rollback never moves an environment forward"), "promote it instead")
		}
		return to, nil
	}
	best := ""
	for d := range first {
		if earlier(d) && (best == "" || first[d] > first[best]) {
			best = d
		}
	}
	if best == "" {
		return "", failure.New(failure.Config, subject,
			errors.New("no earlier digest that is not revoked holds a receipt for this environment"), "see bakery history; promote a fix instead")
	}
	return best, nil
}
