// Package promote moves one digest from environment to environment. A
// promotion resolves the digest once, verifies it as `bakery verify` does,
// evaluates the target environment's policies, copies the image with its
// signatures and attestations, verifies it again at the destination, signs a
// receipt (an SLSA verification summary) and only then moves the
// environment's tag. Everything it records lives in the registry, so history
// and status read the registry alone.
package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/policies"
)

// Promoter moves a verified, policy-approved digest into an environment.
type Promoter interface {
	Promote(ctx context.Context, req Request) (*Result, error)
}

// Request names what to promote where.
type Request struct {
	Target string
	To     string
	// From is the source environment; default the one before To.
	From string
	// Digest, when set, is promoted instead of what From's tag points at.
	// It must be in From's repository.
	Digest string
}

// Result is what a promotion (or a rollback, or a denied attempt) did.
type Result struct {
	Action      string             `json:"action"`
	Target      string             `json:"target"`
	Environment string             `json:"environment"`
	From        string             `json:"from,omitempty"`
	Digest      string             `json:"digest"`
	Source      string             `json:"source,omitempty"`
	Destination string             `json:"destination"`
	Tag         string             `json:"tag"`
	Decision    *policies.Decision `json:"decision,omitempty"`
	Copy        *CopyStats         `json:"copy,omitempty"`
	Receipt     bool               `json:"receiptSigned"`
	// AMIs are the environment's own AMI ids per region, for a machine image.
	AMIs map[string]string `json:"amis,omitempty"`
	// AlreadyPromoted means the environment's tag already pointed at the
	// digest, which holds a verified receipt for the environment: nothing
	// was copied, signed or moved.
	AlreadyPromoted bool `json:"alreadyPromoted,omitempty"`
}

// Options configures a Promoter.
type Options struct {
	Config *config.Config
	Keys   []attest.TrustedKey
	// Signer signs receipts; it is waited for only when a receipt is signed.
	Signer   *Signer
	Policies *policies.Engine
	Version  string
	// Clouds makes the cloud side of machine-image promotions; nil is
	// DefaultClouds.
	Clouds NewClouds
}

// Signer is a signing key being loaded in the background.
type Signer struct {
	done chan struct{}
	sv   signature.SignerVerifier
	err  error
}

// LoadSignerAsync starts load and returns at once.
func LoadSignerAsync(load func() (signature.SignerVerifier, error)) *Signer {
	s := &Signer{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.sv, s.err = load()
	}()
	return s
}

// ReadySigner wraps a signer that is already loaded.
func ReadySigner(sv signature.SignerVerifier) *Signer {
	s := &Signer{done: make(chan struct{}), sv: sv}
	close(s.done)
	return s
}

func (s *Signer) get(ctx context.Context) (signature.SignerVerifier, error) {
	select {
	case <-s.done:
		return s.sv, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type promoter struct{ opts Options }

// New returns a Promoter.
func New(opts Options) Promoter { return &promoter{opts: opts} }

var _ Promoter = (*promoter)(nil)

// Promote runs the whole gate; on any failure nothing is tagged.
func (p *promoter) Promote(ctx context.Context, req Request) (*Result, error) {
	cfg := p.opts.Config
	if _, err := cfg.LookupTarget(req.Target); err != nil {
		return nil, err
	}
	to, toIdx, err := cfg.LookupEnvironment(req.To)
	if err != nil {
		return nil, err
	}
	var from *config.Environment
	switch {
	case req.From != "":
		if from, _, err = cfg.LookupEnvironment(req.From); err != nil {
			return nil, err
		}
	case toIdx == 0:
		return nil, failure.New(failure.Config, "environment "+req.To, errors.New("is the first environment: builds go there"),
			"promote to a later environment, or pass --from")
	default:
		from = &cfg.Environments[toIdx-1]
	}
	if from.Name == to.Name {
		return nil, failure.New(failure.Config, "environment "+req.To, errors.New("source and destination are the same"), "pick another --from")
	}
	srcRepo, err := from.RepositoryFor(req.Target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+from.Name, err, "")
	}
	dstRepo, err := to.RepositoryFor(req.Target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+to.Name, err, "")
	}
	tagName, err := to.RenderTag(req.Target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+to.Name, err, "")
	}

	// Resolve exactly once; everything below uses src.
	var src name.Digest
	var srcTag *name.Tag
	if req.Digest != "" {
		if src, err = digestIn(ctx, srcRepo, req.Digest); err != nil {
			return nil, err
		}
	} else {
		fromTag, err := from.RenderTag(req.Target)
		if err != nil {
			return nil, failure.New(failure.Config, "environment "+from.Name, err, "")
		}
		t := srcRepo.Tag(fromTag)
		srcTag = &t
		if src, err = resolveTag(ctx, t); err != nil {
			return nil, err
		}
	}
	dst := dstRepo.Digest(src.DigestStr())
	res := &Result{Action: ActionPromote, Target: req.Target, Environment: to.Name, From: from.Name,
		Digest: src.DigestStr(), Source: src.String(), Destination: dst.String(), Tag: dstRepo.Tag(tagName).String()}

	rep, err := attest.Verify(ctx, src, p.opts.Keys, attest.RequiredPredicates)
	if err != nil {
		return res, err
	}
	in, err := Input(rep, req.Target, from.Name, cfg, to)
	if err != nil {
		return res, err
	}
	dec, err := p.opts.Policies.Evaluate(ctx, to.Policies, in)
	if err != nil {
		return res, err
	}
	res.Decision = &dec
	if !dec.Allowed {
		return res, denied(to.Name, dec)
	}

	if done, err := p.alreadyPromoted(ctx, dst, dstRepo.Tag(tagName), to.Name); err != nil {
		return res, err
	} else if done {
		res.AlreadyPromoted = true
		return res, nil
	}

	cloud, err := p.planAMIs(ctx, req.Target, from, to, src, rep)
	if err != nil {
		return res, err
	}

	stats, err := Copy(ctx, src, dst)
	if err != nil {
		return res, failure.New(failure.ClassOf(err), "promote "+req.Target+" to "+to.Name, err,
			"nothing was tagged; re-run the same command to finish the copy")
	}
	res.Copy = &stats
	if srcTag != nil {
		// Fail closed if the source tag moved while we copied.
		now, err := resolveTag(ctx, *srcTag)
		if err != nil {
			return res, err
		}
		if now.DigestStr() != src.DigestStr() {
			return res, failure.New(failure.Verify, srcTag.String(),
				fmt.Errorf("moved from %s to %s during the promotion", src.DigestStr(), now.DigestStr()),
				"nothing was tagged; re-run to promote what the tag points at now")
		}
	}
	after, err := attest.Verify(ctx, dst, p.opts.Keys, attest.RequiredPredicates)
	if err != nil {
		return res, failure.New(failure.ClassOf(err), dst.String(), fmt.Errorf("after copying: %w", err), "nothing was tagged")
	}
	if res.AMIs, err = cloud.publish(ctx); err != nil {
		return res, err
	}
	if err := p.record(ctx, dst, ReceiptMetadata{Action: ActionPromote, Target: req.Target, Environment: to.Name,
		From: from.Name, Policies: to.Policies, AMIs: res.AMIs}, dec.Digest, after.Attestations); err != nil {
		return res, err
	}
	res.Receipt = true
	if err := registry.Tag(ctx, dst, dstRepo.Tag(tagName)); err != nil {
		return res, failure.New(failure.ClassOf(err), res.Tag, err, "the receipt is recorded; re-run to move the tag")
	}
	return res, nil
}

// alreadyPromoted reports whether tag already points at dst and dst holds a
// verified PASSED receipt for env: then re-running the promotion is a no-op.
func (p *promoter) alreadyPromoted(ctx context.Context, dst name.Digest, tag name.Tag, env string) (bool, error) {
	cur, err := remote.Head(tag, registry.Options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, registry.Classify(tag.String(), err)
	}
	if cur.Digest.String() != dst.DigestStr() {
		return false, nil
	}
	rep, err := attest.Verify(ctx, dst, p.opts.Keys, attest.RequiredPredicates)
	if err != nil {
		return false, nil // not verifiable as it is: promote again, which repairs it
	}
	for _, r := range Receipts(rep) {
		if r.Environment == env && r.Result == "PASSED" {
			return true, nil
		}
	}
	return false, nil
}

// record signs and attaches a receipt to dst.
func (p *promoter) record(ctx context.Context, dst name.Digest, meta ReceiptMetadata, policyDigest string, inputs []attest.AttestationInfo) error {
	var nonReceipts []attest.AttestationInfo
	for _, a := range inputs {
		if a.PredicateType != PredicateVSA {
			nonReceipts = append(nonReceipts, a)
		}
	}
	st, err := receiptStatement(dst, meta, policyDigest, p.opts.Version, nonReceipts)
	if err != nil {
		return err
	}
	signer, err := p.opts.Signer.get(ctx)
	if err != nil {
		return err
	}
	return attest.Attach(ctx, signer, dst, []attest.Statement{st})
}

// RecordBuild signs the receipt of a build into the first environment.
func RecordBuild(ctx context.Context, signer signature.SignerVerifier, ref name.Digest, target, env, version string) error {
	st, err := receiptStatement(ref, ReceiptMetadata{Action: ActionBuild, Target: target, Environment: env}, "", version, nil)
	if err != nil {
		return err
	}
	return attest.Attach(ctx, signer, ref, []attest.Statement{st})
}

func denied(env string, dec policies.Decision) error {
	msgs := make([]string, len(dec.Violations))
	for i, v := range dec.Violations {
		msgs[i] = v.Policy + ": " + v.Message
	}
	return failure.New(failure.Policy, "promotion to "+env, fmt.Errorf("denied by %d violation(s): %s", len(msgs), strings.Join(msgs, "; ")),
		"nothing was copied or tagged")
}

func resolveTag(ctx context.Context, t name.Tag) (name.Digest, error) {
	desc, err := remote.Head(t, registry.Options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return name.Digest{}, failure.New(failure.Config, t.String(), errors.New("nothing is there"), "build or promote into that environment first")
		}
		return name.Digest{}, registry.Classify(t.String(), err)
	}
	return t.Context().Digest(desc.Digest.String()), nil
}

func digestIn(ctx context.Context, repo name.Repository, digest string) (name.Digest, error) {
	d, err := name.NewDigest(repo.String()+"@"+digest, nameOpts(repo)...)
	if err != nil {
		return name.Digest{}, failure.New(failure.Config, "--digest "+digest, err, "use sha256:<64 hex digits>")
	}
	if _, err := remote.Head(d, registry.Options(ctx)...); err != nil {
		if isNotFound(err) {
			return name.Digest{}, failure.New(failure.Config, d.String(), errors.New("this digest is not in the source repository"), "check --digest and --from")
		}
		return name.Digest{}, registry.Classify(d.String(), err)
	}
	return d, nil
}

func nameOpts(repo name.Repository) []name.Option {
	if repo.Scheme() == "http" {
		return []name.Option{name.Insecure}
	}
	return nil
}
