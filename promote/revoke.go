package promote

import (
	"context"
	"errors"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// Revocation is a request to revoke (or restore) a digest everywhere. It
// lives here, above package revoke, because finding what a revocation covers
// needs what only promotion knows: the digests bakery built and promoted
// (KnownDigests), their lineage (Cascade) and their AMIs (WithdrawAMIs).
type Revocation struct {
	// Digest is in full, or a prefix ResolvePrefix resolves.
	Digest string
	Reason string
	// Cascade also revokes every known digest built on Digest, transitively.
	Cascade bool
	// Restore undoes the revocations instead.
	Restore bool
	// Now is when the entries are signed; EffectiveAt when they take effect
	// (Now, or later for a scheduled revocation).
	Now, EffectiveAt time.Time
	// Confirm, when set, is asked before more than one digest is revoked; an
	// error stops the revocation before anything is written.
	Confirm func([]revoke.Entry) error
}

// Revoked is what Revoke wrote: the entries signed into every environment's
// list, and the AMIs of machine images withdrawn (or enabled again). (The
// fields are in the order JSON has always printed them.)
type Revoked struct {
	AMIs    []Withdrawn    `json:"amis"`
	Entries []revoke.Entry `json:"entries"`
	// Admission lists the admission policy files rewritten from the new
	// list (revoke --write-admission), by the command.
	Admission []string `json:"admission,omitempty"`
}

// Revoke resolves the digest, makes its entry (signed by the Promoter's
// signing key, by the actor in ctx) and, with Cascade, the entries of the
// digests built on it; after Confirm it writes them to every environment's
// list, then withdraws the AMIs. The list is signed first: if the cloud side
// fails (the Revoked is returned with the error), revoking again finishes it.
func (p *Promoter) Revoke(ctx context.Context, r Revocation) (*Revoked, error) {
	cfg, verifier := p.opts.Config, p.opts.Verifier
	digest, err := ResolvePrefix(ctx, verifier, cfg, "", "", r.Digest)
	if err != nil {
		return nil, err
	}
	signer, err := p.opts.Signer.Get(ctx)
	if err != nil {
		return nil, err
	}
	keyID, err := attest.KeyID(signer)
	if err != nil {
		return nil, err
	}
	root := revoke.Entry{Digest: digest, Action: revoke.ActionRevoke, Reason: r.Reason, Time: r.Now.Format(revoke.TimeFormat),
		EffectiveAt: r.EffectiveAt.Format(revoke.TimeFormat), By: revoke.By(receipt.ActorOf(ctx), keyID)}
	var known []Known
	if root.Target, known, err = p.knownFor(ctx, digest, r.Cascade); err != nil {
		return nil, err
	}
	if root.Target == "" {
		return nil, failure.New(failure.Config, digest, errors.New("bakery built or promoted no such digest for any target of this config"),
			"check the digest with bakery history TARGET --env ENV")
	}
	entries := []revoke.Entry{root}
	if r.Cascade {
		entries = append(entries, Cascade(root, known)...)
	}
	if r.Restore {
		for i := range entries {
			entries[i].Action = revoke.ActionRestore
		}
	}
	if len(entries) > 1 && r.Confirm != nil {
		if err := r.Confirm(entries); err != nil {
			return nil, err
		}
	}
	if err := revoke.Write(ctx, cfg, signer, verifier, entries); err != nil {
		return nil, err
	}
	withdrawn, err := p.WithdrawAMIs(ctx, entries)
	if withdrawn == nil {
		withdrawn = []Withdrawn{}
	}
	return &Revoked{Entries: entries, AMIs: withdrawn}, err
}

// knownFor is digest's target ("" when bakery built or promoted no such
// digest) and, with cascade, every known digest, to find the ones built on
// it. Without cascade only digest itself is read, in each repository.
func (p *Promoter) knownFor(ctx context.Context, digest string, cascade bool) (string, []Known, error) {
	if !cascade {
		k, _, err := KnownDigest(ctx, p.opts.Config, p.opts.Verifier, digest, 4)
		return k.Target, nil, err
	}
	known, err := KnownDigests(ctx, p.opts.Config, p.opts.Verifier, 4)
	target := ""
	for _, k := range known {
		if k.Digest == digest {
			target = k.Target
		}
	}
	return target, known, err
}
