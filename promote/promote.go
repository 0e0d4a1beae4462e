// Package promote moves one digest from environment to environment. A
// promotion resolves the digest once, decides (verifies it as `bakery verify`
// does and evaluates the target environment's policies), copies the image
// with its signatures and attestations, verifies it again at the
// destination (by content: every layer was checked at the source),
// publishes a machine image's AMIs, signs a receipt (package receipt) and
// only then moves the environment's tag. Everything it records
// lives in the registry, so history, status and rollback read the registry
// alone.
package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/deploy/gitops"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
	"github.com/bakeryhq/bakery/vuln"
)

// Request names what to promote where.
type Request struct {
	Target string
	To     string
	// From is the source environment; default the one before To.
	From string
	// Digest, when set, is promoted instead of what From's tag points at.
	// It must be in From's repository.
	Digest string
	// Reason is why the step is taken, recorded in the receipt. A digest
	// a rollback holds out of To (Pin) is promoted only when named by
	// Digest with a Reason.
	Reason string
	// Write lists deployment files (bakery promote --write) to pin to the
	// promoted repository@digest once the receipt is signed and the tag
	// settled: those declared in To's deploy.files for Target; the others
	// are left to the other targets of the command (CheckWrites).
	Write []string
	// fromBuild says Digest comes from a build's metadata file, not from
	// the person: it does not override a Pin.
	fromBuild bool
	// verified is the source's verification report from the plan, reused
	// when the source resolves to the same repository and digest.
	verified *attest.Report
	// Wait, with a Timeout, waits for a machine image's instance
	// refreshes (aws.rollout) to end.
	Wait Wait
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
	// Tests is the digest's test evidence (Tests) the decision saw.
	Tests []TestEvidence `json:"tests,omitempty"`
	// Written is what the GitOps write-back (--write) did to each file,
	// after the receipt was signed and the tag settled.
	Written []gitops.Written `json:"written,omitempty"`
	// Rollout is what replaced a machine image's instances (aws.rollout):
	// per launch template and group, the version with the environment's
	// AMI and the group's instance refresh onto it.
	Rollout []amis.Deployment `json:"rollout,omitempty"`
}

// Options configures a Promoter.
type Options struct {
	Config *config.Config
	// Verifier is what is trusted: the keys, and the predicates required.
	Verifier *attest.Verifier
	// Signer signs receipts; it is waited for only when a receipt is signed.
	Signer   *attest.PendingSigner
	Policies *policies.Engine
	Version  string
	// Clouds makes the cloud side of machine-image promotions; nil is
	// DefaultClouds.
	Clouds NewClouds
}

// Promoter promotes, rolls back and decides, for one configuration, one set
// of trusted keys and one compiled set of policies. It reads the revocation
// list once, when first needed.
type Promoter struct {
	opts Options

	revOnce sync.Once
	revs    *revoke.Set
	revErr  error
	lineage *revoke.Lineage

	dbOnce  sync.Once
	db      *vuln.Database
	dbErr   error
	supOnce sync.Once
	sup     *vuln.Suppressions
}

// New returns a Promoter.
func New(opts Options) *Promoter { return &Promoter{opts: opts} }

// Revocations is the signed revocation list, read once per Promoter.
func (p *Promoter) Revocations(ctx context.Context) (*revoke.Set, error) {
	p.revOnce.Do(func() {
		if p.revs, p.revErr = revoke.Load(ctx, p.opts.Config, p.opts.Verifier); p.revErr == nil {
			p.lineage = revoke.NewLineage(p.revs, p.opts.Config, p.opts.Verifier)
		}
	})
	return p.revs, p.revErr
}

// Lineage is the revocation check every decision makes: the list, read once,
// applied to a digest and to every base its verified provenance names,
// transitively (revoke.Lineage), each base read once per Promoter.
func (p *Promoter) Lineage(ctx context.Context) (*revoke.Lineage, error) {
	if _, err := p.Revocations(ctx); err != nil {
		return nil, err
	}
	return p.lineage, nil
}

// revocationOf is the policy input's view of a revocation entry.
func revocationOf(e revoke.Entry, revoked bool) policies.Revocation {
	if !revoked {
		return policies.Revocation{}
	}
	return policies.Revocation{Revoked: true, Reason: e.Reason, By: e.By, EffectiveAt: e.EffectiveAt, Cause: e.Cause}
}

// route is a resolved promotion: where from, where to, and the one digest.
type route struct {
	from, to *config.Environment
	src, dst name.Digest
	// srcTag is the source tag the digest was resolved from (nil for --digest).
	srcTag *name.Tag
	dstTag name.Tag
}

// Promote runs the whole gate: resolve → decide → copy → publish → sign and
// tag. On any failure the environment's tag does not move.
func (p *Promoter) Promote(ctx context.Context, req Request) (*Result, error) {
	rt, err := p.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &Result{Action: receipt.ActionPromote, Target: req.Target, Environment: rt.to.Name, From: rt.from.Name,
		Digest: rt.src.DigestStr(), Source: rt.src.String(), Destination: rt.dst.String(), Tag: rt.dstTag.String()}
	// the write-back is prepared before anything is copied: a deploy file
	// that does not parse, or lacks its image, stops the promotion here
	files := gitops.Select(p.opts.Config, rt.to, req.Target, req.Write)
	if err := gitops.Prepare(files); err != nil {
		return res, err
	}

	if done, dec, rep, err := p.alreadyPromoted(ctx, rt, req.Target); err != nil || done {
		res.Decision, res.AlreadyPromoted = dec, done && err == nil
		if err != nil {
			return res, err
		}
		// promoted before: the files are pinned, and the instances rolled
		// out, now if they were not then
		if err := writeBack(res, files, rt.dst); err != nil {
			return res, err
		}
		return res, p.rolloutAgain(ctx, res, rt, rep, req.Wait)
	}
	if err := p.holds(ctx, req, rt.to, rt.src.DigestStr()); err != nil {
		return res, err
	}
	rep, dec, err := p.decide(ctx, rt.src, req.Target, rt.from.Name, rt.to, req.verified, true)
	if rep != nil {
		res.Tests = Tests(rep, req.Target)
	}
	if err != nil {
		return res, err
	}
	res.Decision = dec
	if !dec.Allowed {
		return res, denied(rt.to.Name, *dec)
	}
	cloud, err := p.planAMIs(ctx, req.Target, rt.from, rt.to, rt.src, rep)
	if err != nil {
		return res, err
	}
	after, err := p.copy(ctx, rt, res, TrustedOf(rep))
	if err != nil {
		return res, err
	}
	if res.AMIs, err = cloud.publish(ctx); err != nil {
		return res, err
	}
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: req.Target, Environment: rt.to.Name,
		From: rt.from.Name, Policies: rt.to.Policies, AMIs: res.AMIs, Reason: req.Reason,
		Vulnerabilities: p.vulnRecord(ctx, rep, req.Target, rt.to)}
	if err := p.signAndTag(ctx, res, rt.dst, rt.dstTag, meta, dec.Digest, after.Attestations); err != nil {
		return res, err
	}
	if err := writeBack(res, files, rt.dst); err != nil {
		return res, err
	}
	return res, cloud.rolloutStep().run(ctx, res, req.Wait)
}

// writeBack pins files to dst, once its receipt is signed and the tag
// settled, recording what was written in res.
func writeBack(res *Result, files []gitops.File, dst name.Digest) error {
	if len(files) == 0 {
		return nil
	}
	written, err := gitops.Apply(files, deployPin(dst), false)
	res.Written = written
	if err != nil {
		return failure.New(failure.ClassOf(err), fmt.Sprintf("write-back of %s in %s", res.Target, res.Environment), err,
			"the step itself is done and its receipt signed; re-run the same command to write the files")
	}
	return nil
}

// deployPin is what a deploy file is pinned to for d.
func deployPin(d name.Digest) gitops.Pin {
	return gitops.Pin{Repository: d.Context().Name(), Digest: d.DigestStr()}
}

// CheckWrites says whether every path of writes is a deploy file declared
// for a target of steps in the environment it moves into: otherwise a config
// error naming the path, before anything happens.
func (p *Promoter) CheckWrites(steps []Step, writes []string) error {
	if len(writes) == 0 {
		return nil
	}
	var moves []gitops.Move
	for _, s := range steps {
		if s.To != "" {
			moves = append(moves, gitops.Move{Target: s.Target, Env: s.To})
		}
	}
	return gitops.Check(p.opts.Config, moves, writes)
}

// rolloutAgain completes the rollout of a digest already promoted, with the
// AMIs its receipt records: a promotion whose rollout failed is re-run so.
func (p *Promoter) rolloutAgain(ctx context.Context, res *Result, rt *route, rep *attest.Report, w Wait) error {
	if len(rolloutsOf(p.opts.Config, res.Target, rt.to)) == 0 {
		return nil
	}
	ids := receipt.AMIs(rep, receipt.Bind(p.opts.Config, res.Target), rt.to.Name)
	if len(ids) == 0 {
		return nil
	}
	step, err := p.planRollout(ctx, nil, res.Target, res.Digest, rt.to)
	if err != nil {
		return err
	}
	res.AMIs = ids
	return step.run(ctx, res, w)
}

// Newest returns the newest PASSED entry of hist, or false.
func Newest(hist []Entry) (Entry, bool) {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Result == receipt.Passed {
			return hist[i], true
		}
	}
	return Entry{}, false
}

// resolve looks up the environments and resolves the digest exactly once;
// everything after uses route.src.
func (p *Promoter) resolve(ctx context.Context, req Request) (*route, error) {
	cfg := p.opts.Config
	if _, err := cfg.LookupTarget(req.Target); err != nil {
		return nil, err
	}
	to, toIdx, err := cfg.LookupEnvironment(req.To)
	if err != nil {
		return nil, err
	}
	rt := &route{to: to}
	switch {
	case req.From != "":
		if rt.from, _, err = cfg.LookupEnvironment(req.From); err != nil {
			return nil, err
		}
	case toIdx == 0:
		return nil, failure.New(failure.Config, "environment "+req.To, errors.New("is the first environment: builds go there"),
			"promote to a later environment, or pass --from")
	default:
		rt.from = &cfg.Environments[toIdx-1]
	}
	if rt.from.Name == to.Name {
		return nil, failure.New(failure.Config, "environment "+req.To, errors.New("source and destination are the same"), "pick another --from")
	}
	srcTag, err := rt.from.Locate(req.Target)
	if err != nil {
		return nil, err
	}
	if rt.dstTag, err = to.Locate(req.Target); err != nil {
		return nil, err
	}
	if req.Digest != "" {
		rt.src, err = digestIn(ctx, srcTag.Context(), req.Digest)
	} else {
		rt.srcTag = &srcTag
		rt.src, err = resolveTag(ctx, srcTag)
	}
	if err != nil {
		return nil, err
	}
	rt.dst = rt.dstTag.Context().Digest(rt.src.DigestStr())
	return rt, nil
}

// Decide verifies ref as `bakery verify` does and evaluates env's policies on
// what verified, for promoting target from the environment from ("" when
// unknown). A verification failure is returned first, with the report and
// the decision on what did verify when there is any; a denial is the
// decision's Allowed=false, not an error.
func (p *Promoter) Decide(ctx context.Context, ref name.Digest, target, from string, env *config.Environment) (*attest.Report, *policies.Decision, error) {
	return p.decide(ctx, ref, target, from, env, nil, false)
}

// decide is Decide, reusing verified (a report of a successful verification
// earlier in the same command) when it is about ref; rescan scans ref again
// when its vulnerability scan is stale (see addVulnerabilities).
func (p *Promoter) decide(ctx context.Context, ref name.Digest, target, from string, env *config.Environment,
	verified *attest.Report, rescan bool) (*attest.Report, *policies.Decision, error) {
	rep, verr := verified, error(nil)
	if rep == nil || !rep.Verified || rep.Reference != ref.String() || rep.Digest.String() != ref.DigestStr() {
		rep, verr = p.opts.Verifier.Verify(ctx, ref)
	}
	if rep == nil {
		return nil, nil, verr
	}
	j, err := p.Judge(ctx, rep, Judgement{Target: target, From: from, Env: env, Rescan: rescan && verr == nil})
	if err != nil {
		return rep, nil, err
	}
	return rep, &j.Decision, verr
}

// delta is the difference between pkgs and the packages of the verified
// digest env runs now for target; nil when it runs nothing verifiable.
func (p *Promoter) delta(ctx context.Context, target string, env *config.Environment, pkgs []policies.Package) (*policies.Delta, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	cur, err := registry.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rep, err := p.opts.Verifier.Verify(ctx, cur)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		return nil, nil
	}
	old, err := Packages(rep)
	if err != nil {
		return nil, err
	}
	d := policies.Diff(cur.DigestStr(), old, pkgs)
	return &d, nil
}

// copy copies src to dst with its trusted signatures and attestations, fails
// closed if the source tag moved meanwhile, and verifies the copy.
func (p *Promoter) copy(ctx context.Context, rt *route, res *Result, trusted Trusted) (*attest.Report, error) {
	stats, err := Copy(ctx, rt.src, rt.dst, trusted)
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), "promote "+res.Target+" to "+rt.to.Name, err,
			"nothing was tagged; re-run the same command to finish the copy")
	}
	res.Copy = &stats
	if rt.srcTag != nil {
		now, err := resolveTag(ctx, *rt.srcTag)
		if err != nil {
			return nil, err
		}
		if now.DigestStr() != rt.src.DigestStr() {
			return nil, failure.New(failure.Verify, rt.srcTag.String(),
				fmt.Errorf("moved from %s to %s during the promotion", rt.src.DigestStr(), now.DigestStr()),
				"nothing was tagged; re-run to promote what the tag points at now")
		}
	}
	after, err := p.opts.Verifier.Verify(ctx, rt.dst)
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), rt.dst.String(), fmt.Errorf("after copying: %w", err), "nothing was tagged")
	}
	return after, nil
}

// signAndTag signs the step's receipt onto dst, only then points tag at dst,
// and then settles: see settle.
func (p *Promoter) signAndTag(ctx context.Context, res *Result, dst name.Digest, tag name.Tag, meta receipt.Metadata, policyDigest string, inputs []attest.AttestationInfo) error {
	signer, err := p.opts.Signer.Get(ctx)
	if err != nil {
		return err
	}
	if err := receipt.Sign(ctx, signer, dst, meta, policyDigest, p.opts.Version, inputs); err != nil {
		return err
	}
	res.Receipt = true
	if err := registry.Tag(ctx, dst, tag); err != nil {
		return failure.New(failure.ClassOf(err), res.Tag, err, "the receipt is recorded; re-run to move the tag")
	}
	return p.settle(ctx, meta.Target, meta.Environment, dst, tag)
}

// settle is how two promotions racing into one environment (a registry has
// no compare-and-swap) never both report success while the tag and the
// newest receipt disagree: after writing the tag, the tag is read again and
// must still point at dst, and the newest receipt in the environment's
// history must be dst's. Otherwise the other promotion won, or is about to
// tag: failure.Conflict (exit 7). docs/concurrency.md has the argument.
func (p *Promoter) settle(ctx context.Context, target, envName string, dst name.Digest, tag name.Tag) error {
	cur, err := registry.Resolve(ctx, tag)
	if err != nil {
		return err
	}
	subject := fmt.Sprintf("promotion of %s into %s", dst.DigestStr(), envName)
	if cur.DigestStr() != dst.DigestStr() {
		return failure.New(failure.Conflict, subject, fmt.Errorf("a concurrent promotion moved %s to %s", tag, cur.DigestStr()),
			"this digest's receipt is signed but the environment runs the other; run bakery status, then re-run the promotion that should win")
	}
	env, _, err := p.opts.Config.LookupEnvironment(envName)
	if err != nil {
		return err
	}
	hist, err := History(ctx, p.opts.Verifier, target, env)
	if err != nil {
		return err
	}
	if newest, ok := Newest(hist); ok && newest.Digest != dst.DigestStr() {
		return failure.New(failure.Conflict, subject, fmt.Errorf("a concurrent promotion of %s signed a newer receipt", newest.Digest),
			"the tag points at this digest for now; run bakery status, then re-run the promotion that should win")
	}
	return nil
}

// alreadyPromoted reports whether the destination tag already points at the
// digest, which holds a verified PASSED receipt for target in the
// environment, the newest in its history: then re-running the promotion is
// a no-op. It is decided first, on the destination alone: the digest there
// carries the same trusted signatures and attestations the source would be
// verified for (verifying it reads, in this process, each layer once), and
// the environment's policies are evaluated again on them, with the
// revocation list, so that a digest denied since is never reported as done.
// Otherwise the promotion runs (judging the source), and its fresh receipt
// settles a race it lost or left open.
func (p *Promoter) alreadyPromoted(ctx context.Context, rt *route, target string) (bool, *policies.Decision, *attest.Report, error) {
	cur, err := registry.Resolve(ctx, rt.dstTag)
	if errors.Is(err, registry.ErrNotFound) {
		return false, nil, nil, nil
	}
	if err != nil {
		return false, nil, nil, err
	}
	if cur.DigestStr() != rt.dst.DigestStr() {
		return false, nil, nil, nil
	}
	rep, err := p.opts.Verifier.Verify(ctx, rt.dst)
	if err != nil {
		return false, nil, nil, nil // not verifiable as it is: promote again, which repairs it
	}
	if !receipt.Has(rep, receipt.Bind(p.opts.Config, target), rt.to.Name) {
		return false, nil, nil, nil
	}
	hist, err := history(ctx, p.opts.Verifier, target, rt.to, map[string]*attest.Report{rt.dst.DigestStr(): rep}, false)
	if err != nil {
		return false, nil, nil, err
	}
	if newest, ok := Newest(hist); !ok || newest.Digest != rt.dst.DigestStr() {
		return false, nil, nil, nil
	}
	_, dec, err := p.decide(ctx, rt.dst, target, rt.from.Name, rt.to, rep, false)
	if err != nil {
		return false, dec, nil, err
	}
	if !dec.Allowed {
		// Denied as it is there (a suite or a policy added since, a
		// revocation): the promotion runs again from the source, whose
		// newer evidence is judged and, if it passes, copied; a denial
		// there is the one reported.
		return false, nil, nil, nil
	}
	return true, dec, rep, nil
}

func denied(env string, dec policies.Decision) error {
	msgs := make([]string, len(dec.Violations))
	for i, v := range dec.Violations {
		msgs[i] = v.Policy + ": " + v.Message
	}
	return failure.New(failure.Policy, "promotion to "+env, fmt.Errorf("denied by %d violation(s): %s", len(msgs), strings.Join(msgs, "; ")),
		"nothing was copied or tagged")
}

// resolveTag resolves an environment's tag; nothing there is a config error
// that says to build or promote first.
func resolveTag(ctx context.Context, t name.Tag) (name.Digest, error) {
	d, err := registry.Resolve(ctx, t)
	if errors.Is(err, registry.ErrNotFound) {
		return d, failure.New(failure.Config, t.String(), registry.ErrNotFound, "build or promote into that environment first")
	}
	return d, err
}

// digestIn checks that --digest names a manifest in repo.
func digestIn(ctx context.Context, repo name.Repository, digest string) (name.Digest, error) {
	d, err := name.NewDigest(repo.String()+"@"+digest, nameOpts(repo)...)
	if err != nil {
		return name.Digest{}, failure.New(failure.Config, "--digest "+digest, err, "use sha256:<64 hex digits>")
	}
	d, err = registry.Resolve(ctx, d)
	if errors.Is(err, registry.ErrNotFound) {
		return d, failure.New(failure.Config, d.String(), errors.New("this digest is not in the source repository"), "check --digest and --from")
	}
	return d, err
}

func nameOpts(repo name.Repository) []name.Option {
	if repo.Scheme() == "http" {
		return []name.Option{name.Insecure}
	}
	return nil
}
