package promote

import (
	"context"
	"slices"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// Judgement is what a decision is about, beyond the verified report: the
// one gate that promote, import and verify --bundle all pass through.
type Judgement struct {
	Target string
	// From is the environment the digest comes from ("" when unknown).
	From string
	Env  *config.Environment
	// Receipts are verified receipts from elsewhere (a bundle's, bound to
	// the source's repositories) that count with the digest's own.
	Receipts []policies.Receipt
	// Revocations is a list from elsewhere (a bundle's): it counts together
	// with the site's own lists, never instead of them.
	Revocations *revoke.Set
	// Offline reads nothing: not the site's revocation lists, not the
	// provenance of bases beyond the digest's own materials, not what the
	// environment runs now (sbom_delta). Judged.Unchecked names them.
	Offline bool
	// Rescan lets the decision scan the digest again when its
	// vulnerability scan is stale, and record the new scan (a promotion).
	Rescan bool
}

// Judged is a decision and what it rests on.
type Judged struct {
	Decision policies.Decision
	// Revocation is the entry in force for the digest or one of its
	// ancestors (Cause names the ancestor); zero when none.
	Revocation revoke.Entry
	Revoked    bool
	// Unchecked names what an offline judgement could not check.
	Unchecked []string
}

// Judge evaluates j.Env's policies, with not_revoked always on, on a verified
// report: the policy input (promote.Input), the receipts it holds plus
// j.Receipts, and the revocation lists (the site's and j.Revocations)
// applied to the digest and its lineage.
func (p *Promoter) Judge(ctx context.Context, rep *attest.Report, j Judgement) (*Judged, error) {
	out := &Judged{}
	in, err := Input(rep, j.Target, j.From, p.opts.Config, j.Env)
	if err != nil {
		return nil, err
	}
	for _, r := range j.Receipts {
		if !slices.Contains(in.Receipts, r) {
			in.Receipts = append(in.Receipts, r)
		}
	}
	var lin *revoke.Lineage
	if j.Offline {
		lin = revoke.NewLineage(j.Revocations, p.opts.Config, p.opts.Verifier).Offline()
		out.Unchecked = append(out.Unchecked, "the site's revocation lists (only the bundle's was read)",
			"bases beyond the digest's own provenance materials")
	} else {
		if lin, err = p.Lineage(ctx); err != nil {
			return nil, err
		}
		if j.Revocations != nil {
			lin = revoke.NewLineage(revoke.Union(lin.Set(), j.Revocations), p.opts.Config, p.opts.Verifier)
		}
	}
	if out.Revocation, out.Revoked, err = lin.Check(ctx, rep, time.Now()); err != nil {
		return nil, err
	}
	in.Revoked = revocationOf(out.Revocation, out.Revoked)
	if err := p.addVulnerabilities(ctx, &in, rep, j); err != nil {
		return nil, err
	}
	if slices.Contains(j.Env.Policies, policies.SBOMDeltaPolicy) {
		if j.Offline {
			out.Unchecked = append(out.Unchecked, policies.SBOMDeltaPolicy+" (what "+j.Env.Name+" runs now is in the site's registry)")
		} else if in.SBOMDelta, err = p.delta(ctx, j.Target, j.Env, in.SBOM.Packages); err != nil {
			return nil, err
		}
	}
	names := j.Env.Policies
	if !slices.Contains(names, policies.NotRevoked) {
		names = append([]string{policies.NotRevoked}, names...) // on for every environment
	}
	if out.Decision, err = p.opts.Policies.Evaluate(ctx, names, in); err != nil {
		return nil, err
	}
	return out, nil
}

// SiteReceipts are the verified receipts for target that the digest holds
// in env's repository at this site, none when it is not there: how an
// import learns that the site's own previous environment passed it.
func SiteReceipts(ctx context.Context, verifier *attest.Verifier, cfg *config.Config, target string, env *config.Environment, digest string) ([]policies.Receipt, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	d := tag.Context().Digest(digest)
	rep, err := receipts(ctx, d, verifier)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		return nil, nil // not there, or nothing verifiable: no receipt
	}
	return receipt.Read(rep, receipt.Bind(cfg, target)), nil
}
