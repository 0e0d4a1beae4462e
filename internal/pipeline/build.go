// Package pipeline sequences the path of a digest for the commands: it picks
// the Builder for each target, builds targets concurrently within the
// configured bound, and only after a target's digest is safely in the registry
// points the first environment's tag at it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/builders/packer"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/promote"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Progress shows build progress; nil shows none.
	Progress buildkit.Progress
	// NoAttest skips SBOMs, provenance and signatures (local experiments only).
	NoAttest bool
	// Attester signs and attests each result; nil loads signing.key.
	Attester attest.Attester
	// Version is bakery's version, recorded in SBOMs and provenance.
	Version string
	// receipts signs the receipt of the build into the first environment.
	receipts signature.SignerVerifier
	// Builders maps a target type to the Builder that bakes it. A missing
	// container builder is connected to cfg.Builder.Address.
	Builders map[string]builders.Builder
}

// Built is a target that was baked, attested (unless disabled) and tagged.
type Built struct {
	builders.Result
	Attestation *attest.Record `json:"attestation,omitempty"`
}

// Build bakes the named targets (all when names is empty) and returns one
// Built per target that succeeded, in the order of names. Every failed target
// contributes one classified error; the returned error joins them.
func Build(ctx context.Context, cfg *config.Config, names []string, opts BuildOptions) ([]Built, error) {
	targets, err := Select(cfg, names)
	if err != nil {
		return nil, err
	}
	env := &cfg.Environments[0]
	reqs := make([]builders.Request, len(targets))
	registries := map[string]bool{}
	for i, t := range targets {
		repo, err := env.RepositoryFor(t.Name)
		if err != nil {
			return nil, failure.New(failure.Config, subject(t), err, "fix environments[0].repository")
		}
		reqs[i] = builders.Request{Target: t, Dir: cfg.Dir, Repository: repo}
		// Fail before building anything if a destination registry is down.
		if reg := repo.Registry; !registries[reg.Name()] {
			registries[reg.Name()] = true
			if err := registry.Ping(ctx, reg); err != nil {
				return nil, failure.New(failure.ClassOf(err), subject(t), err, "")
			}
		}
	}

	if !opts.NoAttest && opts.Attester == nil {
		// Loaded for packer targets too, so that a bad key fails before
		// packer runs; syft's license scanner only if bakery makes SBOMs here.
		aopts := attest.Options{Version: opts.Version, BuilderSBOMs: !needs(targets, config.TypeContainer)}
		if opts.Attester, opts.receipts, err = NewAttester(ctx, cfg, aopts); err != nil {
			return nil, err
		}
	}

	byType := map[string]builders.Builder{}
	for typ, b := range opts.Builders {
		byType[typ] = b
	}
	if byType[config.TypeContainer] == nil && needs(targets, config.TypeContainer) {
		bk, err := buildkit.New(ctx, cfg.Builder, cfg.Dir, opts.Progress)
		if err != nil {
			return nil, failure.New(failure.ClassOf(err), subject(targets...), err, "")
		}
		defer bk.Close()
		byType[config.TypeContainer] = bk
	}
	if byType[config.TypePacker] == nil && needs(targets, config.TypePacker) {
		pk, err := packer.New(cfg, opts.Progress)
		if err != nil {
			return nil, failure.New(failure.ClassOf(err), subject(targets...), err, "")
		}
		pk.NoAttest = opts.NoAttest
		byType[config.TypePacker] = pk
	}

	results := make([]*Built, len(reqs))
	var mu sync.Mutex
	var errs []error
	g := new(errgroup.Group)
	g.SetLimit(cfg.Builder.MaxParallel)
	for i, req := range reqs {
		g.Go(func() error {
			res, err := buildOne(ctx, byType[req.Target.Type], env, req, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
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
	return out, errors.Join(errs...)
}

// buildOne bakes one target, then records it. A Builder that records its
// results itself (the Packer post-processor runs Record inside packer)
// implements Recorded and is not recorded twice.
func buildOne(ctx context.Context, b builders.Builder, env *config.Environment, req builders.Request, opts BuildOptions) (Built, error) {
	if b == nil {
		return Built{}, failure.New(failure.Config, subject(req.Target),
			fmt.Errorf("type %s is not built by this version of bakery", req.Target.Type), "")
	}
	res, err := b.Build(ctx, req)
	if err != nil {
		return Built{}, err
	}
	if r, ok := b.(Recorded); ok {
		if rec, ok := r.Recorded(res); ok {
			return Built{Result: res, Attestation: rec}, nil
		}
	}
	return Record(ctx, env, req.Repository.Digest(res.Digest.String()), res, RecordOptions{
		Attester: opts.Attester, Receipts: opts.receipts, Progress: opts.Progress, Version: opts.Version,
	})
}

// Recorded is implemented by a Builder whose results were already attested,
// given a build receipt and tagged (Result.Tags) by the time Build returns.
type Recorded interface {
	Recorded(builders.Result) (*attest.Record, bool)
}

// RecordOptions configures Record.
type RecordOptions struct {
	// Attester attests the digest; nil skips attestations and the receipt.
	Attester attest.Attester
	// Receipts signs the build receipt; nil skips it.
	Receipts signature.SignerVerifier
	Progress buildkit.Progress
	Version  string
}

// Record is the part of the path of a digest between the builder and
// promotion: it attests a pushed digest, signs its build receipt into env (the
// first environment) and only then points env's tag at it. A failure tags
// nothing.
func Record(ctx context.Context, env *config.Environment, ref name.Digest, res builders.Result, opts RecordOptions) (Built, error) {
	out := Built{Result: res}
	subj := "target " + strconv.Quote(res.Target)
	if opts.Attester != nil {
		done := progress.Step(opts.Progress, res.Target, "attest: SBOM per platform, provenance, signatures")
		var err error
		out.Attestation, err = opts.Attester.Attest(ctx, ref, res)
		if err == nil && opts.Receipts != nil {
			err = promote.RecordBuild(ctx, opts.Receipts, ref, res.Target, env.Name, opts.Version)
		}
		done(err)
		if err != nil {
			return Built{}, failure.New(failure.ClassOf(err), subj, err, "")
		}
	}
	tag, err := env.RenderTag(res.Target)
	if err != nil {
		return Built{}, failure.New(failure.Config, subj, err, "fix the environment's tag")
	}
	if err := registry.Tag(ctx, ref, ref.Context().Tag(tag)); err != nil {
		return Built{}, failure.New(failure.ClassOf(err), subj, err, "")
	}
	out.Tags = append(out.Tags, tag)
	return out, nil
}

// NewAttester loads the configured signing key and returns the Attester and
// receipt signer that Build uses, for callers that record results themselves.
// opts.Signer and opts.BuilderID come from cfg.
func NewAttester(ctx context.Context, cfg *config.Config, opts attest.Options) (attest.Attester, signature.SignerVerifier, error) {
	signer, err := attest.SignerFor(ctx, cfg.Signing, config.SigningPassword())
	if err != nil {
		return nil, nil, err
	}
	opts.Signer, opts.BuilderID = signer, cfg.Signing.BuilderID
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

// subject names the targets an error is about: target "a" or targets "a", "b".
func subject(targets ...*config.Target) string {
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = strconv.Quote(t.Name)
	}
	if len(quoted) == 1 {
		return "target " + quoted[0]
	}
	return "targets " + strings.Join(quoted, ", ")
}

func needs(targets []*config.Target, typ string) bool {
	for _, t := range targets {
		if t.Type == typ {
			return true
		}
	}
	return false
}
