package bundle

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
)

// ImportOptions say where to import a bundle and with which keys.
type ImportOptions struct {
	// Config is the site's config; Env one of its environments.
	Config *config.Config
	Env    string
	// Keys are the site's trusted keys.
	Keys []attest.TrustedKey
	// Policies are the site's compiled policies: the decision is the one
	// `bakery promote --to Env` makes at the site (VerifyOptions.Site).
	Policies *policies.Engine
	// Signer is the site's own signing key, nil when none is configured:
	// then no import receipt is signed.
	Signer signature.SignerVerifier
	// Force replaces another digest under the environment's tag; it needs
	// Signer, so that the import receipt records what it replaced.
	Force   bool
	Version string
}

// ImportResult is what Import did.
type ImportResult struct {
	Target      string            `json:"target"`
	Environment string            `json:"environment"`
	Digest      string            `json:"digest"`
	Destination string            `json:"destination"`
	Tag         string            `json:"tag"`
	Copy        promote.CopyStats `json:"copy"`
	Receipt     bool              `json:"receiptSigned"`
	Replaced    string            `json:"replaced,omitempty"`
	// AlreadyImported means the tag already pointed at the digest, which
	// holds a verified receipt for the environment: nothing was signed or
	// moved (the copy filled in anything missing).
	AlreadyImported bool           `json:"alreadyImported,omitempty"`
	Verified        *Result        `json:"verified"`
	Report          *attest.Report `json:"-"`
}

// Import is a promotion from a file. It verifies b (Verify) and decides as
// `bakery promote --to Env` would at the site: Env's own policies, the
// site's trusted keys, the site's current revocation lists together with
// the bundle's, and the receipts of the environments before Env, from the
// bundle or from the site's own previous environment. It then copies its digest with the signatures and attestations that verified into
// the site environment's repository (promote.Copy, the bundle served
// in-process), verifies it there, signs an import receipt when the site has
// a signing key, and only then points the environment's tag at it. A tag
// that holds another digest is refused (failure.Conflict) unless Force.
func Import(ctx context.Context, b *Bundle, opts ImportOptions) (*ImportResult, error) {
	m := b.Manifest
	env, _, err := opts.Config.LookupEnvironment(opts.Env)
	if err != nil {
		return nil, err
	}
	if _, err := opts.Config.LookupTarget(m.Target); err != nil {
		return nil, err // the site's status, history and verify --env know it by name
	}
	tag, err := env.Locate(m.Target)
	if err != nil {
		return nil, err
	}
	dst := tag.Context().Digest(m.Digest)
	res := &ImportResult{Target: m.Target, Environment: env.Name, Digest: m.Digest, Destination: dst.String(), Tag: tag.String()}
	if opts.Force && opts.Signer == nil {
		return res, failure.New(failure.Config, "--force", errors.New("a forced import needs the site's signing key, so that its receipt records what it replaced"),
			"configure signing.key")
	}
	// Verifying the bundle, then copying it, reads each of its blobs once;
	// the copy is verified at the destination without the cache.
	cctx := withBlobCache(ctx)
	if opts.Policies == nil {
		return res, failure.New(failure.Internal, "import", errors.New("no site policies to decide with"), "")
	}
	site := promote.New(promote.Options{Config: opts.Config, Verifier: attest.Trusting(opts.Keys), Policies: opts.Policies})
	if res.Verified, err = Verify(cctx, b, VerifyOptions{Keys: opts.Keys, Config: opts.Config, Env: env.Name, Site: site}); err != nil {
		return res, err
	}
	cur, err := current(ctx, tag)
	if err != nil {
		return res, err
	}
	if cur != m.Digest {
		res.Replaced = cur
	}
	if res.Replaced != "" && !opts.Force {
		return res, failure.New(failure.Conflict, tag.String(), fmt.Errorf("holds %s, not the bundle's %s", res.Replaced, m.Digest),
			"pass --force to replace it (its import receipt records the digest it replaced)")
	}
	sctx, src, err := b.Serve(cctx, false)
	if err != nil {
		return res, err
	}
	if res.Copy, err = promote.Copy(sctx, src, dst, promote.TrustedOf(res.Verified.Report)); err != nil {
		return res, err
	}
	after, err := attest.Trusting(opts.Keys).Verify(ctx, dst)
	res.Report = after
	if err != nil {
		return res, failure.New(failure.ClassOf(err), dst.String(), fmt.Errorf("after importing: %w", err), "nothing was tagged")
	}
	if cur == m.Digest && receipt.Has(after, receipt.Bind(opts.Config, m.Target), env.Name) {
		res.AlreadyImported = true // the tag and a receipt are there: nothing to sign or move
		return res, nil
	}
	if opts.Signer != nil {
		meta := receipt.Metadata{Action: receipt.ActionImport, Target: m.Target, Environment: env.Name,
			From: m.Environment, Policies: env.Policies, Replaced: res.Replaced}
		policyDigest := ""
		if d := res.Verified.Decision; d != nil {
			policyDigest = d.Digest
		}
		if err := receipt.Sign(ctx, opts.Signer, dst, meta, policyDigest, opts.Version, after.Attestations); err != nil {
			return res, err
		}
		res.Receipt = true
	}
	if err := registry.Tag(ctx, dst, tag); err != nil {
		return res, failure.New(failure.ClassOf(err), tag.String(), err, "the image is imported; re-run to move the tag")
	}
	return res, nil
}

// current is the digest tag holds, "" when nothing is there.
func current(ctx context.Context, tag name.Tag) (string, error) {
	cur, err := registry.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cur.DigestStr(), nil
}
