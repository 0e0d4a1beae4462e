// Package pipeline is the path of a digest between its builder and
// promotion: for any Builder it is handed, it builds targets concurrently
// within the configured bound, attests each pushed digest (package attest),
// signs its build receipt into the first environment (package receipt) and
// only then points the first environment's tag at it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/receipt"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Builders maps a target type (config.TypeContainer, config.TypePacker)
	// to the Builder that bakes it; the caller constructs them. A target
	// whose type has no Builder fails with a config error.
	Builders map[string]builders.Builder
	// Progress shows build progress; nil shows none.
	Progress progress.Streamer
	// NoAttest skips SBOMs, provenance and signatures (local experiments only).
	NoAttest bool
	// FailFast stops the run at the first target that fails: targets not
	// started yet are not built, and running builds are canceled (their
	// tags do not move). By default every target is built that can be.
	FailFast bool
	// Attester signs and attests each result; nil loads signing.key.
	Attester attest.Attester
	// Version is bakery's version, recorded in SBOMs and provenance.
	Version string
	// Guard refuses bases that are revoked; nil checks none.
	Guard *BaseGuard
	// SourceDateEpoch stamps the times of what is built (seconds since the
	// Unix epoch; SOURCE_DATE_EPOCH, else 0), so that the same inputs give
	// the same digest.
	SourceDateEpoch int64
	// Current tells whether the digest the first environment already runs
	// is published and verifies (signature and attestations): a build that
	// makes that digest again is unchanged and moves nothing. nil counts a
	// digest as published when the tag points at it.
	Current func(ctx context.Context, ref name.Digest) bool
	// Vulns scans each published digest's verified SBOMs and records the
	// signed scan (vulnerabilities.db configured); nil scans nothing. Its
	// Signer is the signing key's when nil.
	Vulns *ScanOptions
	// receipts signs the receipt of the build into the first environment,
	// and the results of the target's test suites.
	receipts signature.SignerVerifier
	// cfg is the config Build was given (for the test suites' files).
	cfg *config.Config
}

// Built is a target that was baked, attested (unless disabled) and tagged.
type Built struct {
	builders.Result
	Attestation *attest.Attached `json:"attestation,omitempty"`
	// Unchanged is true when the build made the digest the first
	// environment already ran, signed and attested: nothing was attested or
	// moved again.
	Unchanged bool `json:"unchanged,omitempty"`
	// Vulnerabilities is the digest's vulnerability evidence once scanned
	// (BuildOptions.Vulns); nil when it was not.
	Vulnerabilities *VulnSummary `json:"vulnerabilities,omitempty"`
}

// Build bakes the named targets (all when names is empty) and returns one
// Built per target that succeeded, in the order of names. Every failed target
// contributes one classified error; the returned error joins them.
func Build(ctx context.Context, cfg *config.Config, names []string, opts BuildOptions) ([]Built, error) {
	targets, reqs, bases, err := plan(ctx, cfg, names, &opts)
	if err != nil {
		return nil, err
	}
	env := &cfg.Environments[0]
	results := make([]*Built, len(reqs))
	published := map[string]chan struct{}{}
	for _, t := range targets {
		published[t.Name] = make(chan struct{})
	}
	var mu sync.Mutex
	var errs []error
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	g := new(errgroup.Group)
	g.SetLimit(cfg.Builder.MaxParallel)
	for _, i := range launchOrder(targets, bases) {
		req := reqs[i]
		g.Go(func() error {
			defer close(published[req.Target.Name])
			res, err := afterBases(runCtx, req.Target, bases, published, results, targets, &mu)
			if err == nil {
				mu.Lock()
				built := builtNow(results, targets)
				mu.Unlock()
				req.TargetArgs, err = targetArgs(runCtx, cfg, req.Target, built)
			}
			if err == nil {
				res, err = guardedBuild(runCtx, env, req, opts)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if opts.FailFast && context.Cause(runCtx) == nil {
					stop(fmt.Errorf("--fail-fast: target %q failed", req.Target.Name))
				}
				errs = append(errs, err)
				return nil
			}
			results[i] = &res
			return nil
		})
	}
	_ = g.Wait() // errors are collected per target above
	var out []Built
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, worstFirst(errs)
}

// plan is everything Build checks before anything is built: the targets,
// their requests (the destination registries answer), the signing key, the
// order of bases, and that each builder can build its targets.
func plan(ctx context.Context, cfg *config.Config, names []string, opts *BuildOptions) ([]*config.Target, []builders.Request, map[string][]string, error) {
	targets, err := Select(cfg, names)
	if err != nil {
		return nil, nil, nil, err
	}
	opts.cfg = cfg
	reqs, err := requests(ctx, cfg, targets)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range reqs {
		reqs[i].SourceDateEpoch = opts.SourceDateEpoch
	}
	if !opts.NoAttest && opts.Attester == nil {
		// Loaded for packer targets too, so that a bad key fails before
		// packer runs; syft's license scanner only if bakery makes SBOMs here.
		aopts := attest.Options{Version: opts.Version, BuilderSBOMs: !Needs(targets, config.TypeContainer)}
		if opts.Attester, opts.receipts, err = NewAttester(ctx, cfg, aopts); err != nil {
			return nil, nil, nil, err
		}
	}
	bases, err := Bases(cfg, targets)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range targets {
		if c, ok := opts.Builders[t.Type].(builders.Checker); ok {
			if err := c.Check(t); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return targets, reqs, bases, nil
}

// guardedBuild builds req once --fail-fast has not stopped the run and its
// bases pass the guard (opts.Guard.before, and .after inside buildOne).
func guardedBuild(ctx context.Context, env *config.Environment, req builders.Request, opts BuildOptions) (Built, error) {
	if err := stopped(ctx, req.Target); err != nil {
		return Built{}, err
	}
	overridden, err := opts.Guard.before(ctx, req)
	if err != nil {
		return Built{}, err
	}
	return buildOne(ctx, opts.Builders[req.Target.Type], env, req, opts, overridden)
}

// stopped fails a target that --fail-fast stopped before it started.
func stopped(ctx context.Context, t *config.Target) error {
	if cause := context.Cause(ctx); cause != nil {
		return failure.New(failure.Build, Subject(t), fmt.Errorf("not built: %w", cause), "fix that target, or build without --fail-fast")
	}
	return nil
}

// worstFirst joins the targets' errors with the worst class (the highest
// exit code) first, so that the run exits with it.
func worstFirst(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		return failure.ClassOf(errs[i]).ExitCode() > failure.ClassOf(errs[j]).ExitCode()
	})
	return errors.Join(errs...)
}

// afterBases waits until each of t's bases is published; a base that failed
// fails t without building it.
func afterBases(ctx context.Context, t *config.Target, bases map[string][]string, published map[string]chan struct{},
	results []*Built, targets []*config.Target, mu *sync.Mutex) (Built, error) {
	for _, b := range bases[t.Name] {
		select {
		case <-published[b]:
		case <-ctx.Done():
			return Built{}, failure.New(failure.Build, Subject(t), ctx.Err(), "")
		}
		mu.Lock()
		ok := false
		for i, o := range targets {
			ok = ok || (o.Name == b && results[i] != nil)
		}
		mu.Unlock()
		if !ok {
			return Built{}, failure.New(failure.Build, Subject(t),
				fmt.Errorf("not built: it is built on target %q, which failed", b), "fix "+b+" first")
		}
	}
	return Built{}, nil
}

// requests makes each target's build request into the first environment and
// fails before anything is built if a destination registry is down.
func requests(ctx context.Context, cfg *config.Config, targets []*config.Target) ([]builders.Request, error) {
	env := &cfg.Environments[0]
	reqs := make([]builders.Request, len(targets))
	pinged := map[string]bool{}
	for i, t := range targets {
		tag, err := env.Locate(t.Name)
		if err != nil {
			return nil, err
		}
		repo := tag.Context()
		reqs[i] = builders.Request{Target: t, Dir: cfg.Dir, Repository: repo}
		if reg := repo.Registry; !pinged[reg.Name()] {
			pinged[reg.Name()] = true
			if err := registry.Ping(ctx, reg); err != nil {
				return nil, failure.New(failure.ClassOf(err), Subject(t), err, "")
			}
		}
	}
	return reqs, nil
}

// buildOne bakes one target, then publishes it. A Builder whose results are
// published by the time Build returns (the Packer post-processor runs
// Publish inside packer) implements SelfPublishing and is not published twice.
func buildOne(ctx context.Context, b builders.Builder, env *config.Environment, req builders.Request, opts BuildOptions, overridden []builders.BaseOverride) (Built, error) {
	if b == nil {
		return Built{}, failure.New(failure.Config, Subject(req.Target),
			fmt.Errorf("type %s is not built by this version of bakery", req.Target.Type), "")
	}
	res, err := b.Build(ctx, req)
	if err != nil {
		return Built{}, err
	}
	// Pushed by digest only: nothing is signed or tagged until its bases
	// pass the guard.
	more, err := opts.Guard.after(ctx, req.Target, res)
	if err != nil {
		return Built{}, err
	}
	recordOverrides(&res, append(overridden, more...))
	ref := req.Repository.Digest(res.Digest.String())
	scan := scanStep(opts, req.Target)
	if sp, ok := b.(SelfPublishing); ok {
		if att, ok := sp.Published(res); ok {
			// Attested and tagged inside packer: its SBOM is scanned now.
			out := Built{Result: res, Attestation: att}
			if scan != nil {
				if out.Vulnerabilities, err = scan(ctx, ref); err != nil {
					return Built{}, err
				}
			}
			return out, nil
		}
	}
	test := testStep(opts, b, req.Target)
	if u, ok := unchanged(ctx, env, req, res, opts); ok {
		// Nothing moves, but the suites may have changed since: the digest
		// is tested again, and a suite that fails now fails the build.
		if test != nil {
			if err := test(ctx, ref); err != nil {
				return Built{}, err
			}
		}
		// The database may be newer than its last scan: it is scanned
		// again (evidence, not a decision).
		if scan != nil {
			if u.Vulnerabilities, err = scan(ctx, ref); err != nil {
				return Built{}, err
			}
		}
		return u, nil
	}
	return Publish(ctx, env, ref, res, PublishOptions{
		Attester: opts.Attester, Receipts: opts.receipts, Progress: opts.Progress, Version: opts.Version,
		Test: test, Scan: scan,
	})
}

// scanStep scans a published digest of t with opts.Vulns (signed with the
// signing key unless it names a signer) and returns the evidence's summary;
// nil without a database or with --no-attest.
func scanStep(opts BuildOptions, t *config.Target) func(context.Context, name.Digest) (*VulnSummary, error) {
	if opts.Vulns == nil || opts.NoAttest {
		return nil
	}
	return func(ctx context.Context, ref name.Digest) (*VulnSummary, error) {
		so := *opts.Vulns
		so.Progress, so.SkipCurrent = opts.Progress, true
		if so.Signer == nil {
			so.Signer = attest.ReadySigner(opts.receipts)
		}
		s, err := ScanDigest(ctx, ref, t.Name, "", so)
		if err != nil {
			return nil, err
		}
		return SummaryOf(s.Evidence), nil
	}
}

// testStep runs t's suites against the pushed digest on b (which must run
// containers) and records their results with the receipt signer (none with
// --no-attest); nil when t has no suite bakery runs.
func testStep(opts BuildOptions, b builders.Builder, t *config.Target) func(context.Context, name.Digest) error {
	if len(t.RunnableTests()) == 0 {
		return nil
	}
	return func(ctx context.Context, ref name.Digest) error {
		runner, _ := b.(ImageRunner)
		var signer *attest.PendingSigner
		if opts.receipts != nil {
			signer = attest.ReadySigner(opts.receipts)
		}
		_, err := TestDigest(ctx, opts.cfg, t, ref, TestOptions{Runner: runner, Signer: signer, Progress: opts.Progress})
		return err
	}
}

// recordOverrides records in the provenance that a build used a revoked base
// by override: the first one found (the argument's, else a material's).
func recordOverrides(res *builders.Result, rbs []builders.BaseOverride) {
	if len(rbs) == 0 {
		return
	}
	if res.Invocation == nil {
		res.Invocation = &builders.Invocation{}
	}
	rb := rbs[0]
	res.Invocation.ExternalParameters.RevokedBaseOverride = &rb
}

// SelfPublishing is implemented by a Builder whose results were already
// attested, given a build receipt and tagged (Result.Tags) by the time Build
// returns.
type SelfPublishing interface {
	Published(builders.Result) (*attest.Attached, bool)
}

// PublishOptions configures Publish.
type PublishOptions struct {
	// Attester attests the digest; nil skips attestations and the receipt.
	Attester attest.Attester
	// Receipts signs the build receipt; nil skips it.
	Receipts signature.SignerVerifier
	Progress progress.Streamer
	Version  string
	// Test runs the target's suites against the digest before anything is
	// attested or tagged; a suite that fails stops the publication (its
	// FAILED result is recorded). nil runs none.
	Test func(ctx context.Context, ref name.Digest) error
	// Scan scans the attested digest's SBOMs and records the signed scan
	// before the tag moves; nil scans nothing.
	Scan func(ctx context.Context, ref name.Digest) (*VulnSummary, error)
}

// Publish is the part of the path of a digest between the builder and
// promotion: it tests a pushed digest (opts.Test), attests it, signs its
// build receipt into env (the first environment) and only then points env's
// tag at it. A failure tags nothing.
func Publish(ctx context.Context, env *config.Environment, ref name.Digest, res builders.Result, opts PublishOptions) (Built, error) {
	out := Built{Result: res}
	subj := "target " + strconv.Quote(res.Target)
	if opts.Test != nil {
		if err := opts.Test(ctx, ref); err != nil {
			return Built{}, err
		}
	}
	if opts.Attester != nil {
		done := progress.Step(opts.Progress, res.Target, "attest: SBOM per platform, provenance, signatures")
		var err error
		out.Attestation, err = opts.Attester.Attest(ctx, ref, res)
		if err == nil && opts.Receipts != nil {
			err = receipt.SignBuild(ctx, opts.Receipts, ref, res.Target, env.Name, opts.Version)
		}
		done(err)
		if err != nil {
			return Built{}, failure.New(failure.ClassOf(err), subj, err, "")
		}
	}
	if opts.Scan != nil && opts.Attester != nil {
		var err error
		if out.Vulnerabilities, err = opts.Scan(ctx, ref); err != nil {
			return Built{}, err
		}
	}
	tag, err := env.Locate(res.Target)
	if err != nil {
		return Built{}, err
	}
	if err := registry.Tag(ctx, ref, ref.Context().Tag(tag.TagStr())); err != nil {
		return Built{}, failure.New(failure.ClassOf(err), subj, err, "")
	}
	out.Tags = append(out.Tags, tag.TagStr())
	return out, nil
}

// NewAttester loads the configured signing key and returns the Attester and
// receipt signer that Build uses, for callers that record results themselves.
// opts.Signer, opts.BuilderID and the SBOM identity come from cfg.
func NewAttester(ctx context.Context, cfg *config.Config, opts attest.Options) (attest.Attester, signature.SignerVerifier, error) {
	signer, err := attest.SignerFor(ctx, cfg.Signing, config.SigningPassword())
	if err != nil {
		return nil, nil, err
	}
	return AttesterWith(cfg, opts, signer)
}

// AttesterWith is NewAttester with a signing key the caller loaded.
func AttesterWith(cfg *config.Config, opts attest.Options, signer signature.SignerVerifier) (attest.Attester, signature.SignerVerifier, error) {
	var err error
	opts.Signer, opts.BuilderID = signer, cfg.Signing.BuilderID
	opts.Organization, opts.Namespace = cfg.SBOM.Organization, cfg.SBOM.Namespace
	if !opts.BuilderSBOMs {
		if opts.SBOMCache, err = sbom.LayerCacheFor(cfg.SBOM); err != nil {
			return nil, nil, err
		}
	}
	return attest.New(opts), signer, nil
}

// Select returns the named targets, or every target in name order when names
// is empty. An unknown name is a config error that lists the known ones.
func Select(cfg *config.Config, names []string) ([]*config.Target, error) {
	if len(names) == 0 {
		names = cfg.TargetNames()
	}
	var out []*config.Target
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		t, err := cfg.LookupTarget(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Subject names the targets an error is about: target "a" or targets "a", "b".
func Subject(targets ...*config.Target) string {
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = strconv.Quote(t.Name)
	}
	if len(quoted) == 1 {
		return "target " + quoted[0]
	}
	return "targets " + strings.Join(quoted, ", ")
}

// Needs reports whether any of targets has type typ.
func Needs(targets []*config.Target, typ string) bool {
	for _, t := range targets {
		if t.Type == typ {
			return true
		}
	}
	return false
}
