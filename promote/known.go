package promote

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// Known is a digest bakery built or promoted: a digest in a target's
// repository of an environment that verifies and holds a receipt for it
// there, with the digests its verified provenance names as bases and
// dependencies, and those of its platform images.
type Known struct {
	Target       string   `json:"target"`
	Environment  string   `json:"environment"`
	Digest       string   `json:"digest"`
	Dependencies []string `json:"dependencies,omitempty"`
	// Platforms are the digests of an index's platform images.
	Platforms []string `json:"platforms,omitempty"`
}

// KnownDigests lists every digest bakery built or promoted, for every target
// and environment, reading the targets' repositories concurrently (at most
// parallel at once).
func KnownDigests(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, parallel int) ([]Known, error) {
	var (
		mu  sync.Mutex
		out []Known
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for _, target := range cfg.TargetNames() {
		bind := receipt.Bind(cfg, target)
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			g.Go(func() error {
				known, err := knownIn(gctx, verifier, bind, target, env)
				mu.Lock()
				out = append(out, known...)
				mu.Unlock()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Environment+out[i].Digest < out[j].Environment+out[j].Digest
	})
	return out, nil
}

// knownIn lists the known digests of target in env: each digest with
// attestations (cosign's .att tag) that verifies and holds env's receipt.
func knownIn(ctx context.Context, verifier *attest.Verifier, bind receipt.Binding, target string, env *config.Environment) ([]Known, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	digests, err := AttestedDigests(ctx, tag.Context())
	if err != nil {
		return nil, err
	}
	var out []Known
	for _, d := range digests {
		k, ok, err := knownAs(ctx, verifier, bind, target, env, d)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// KnownDigest finds digest among the digests bakery built or promoted (as
// KnownDigests lists them) without listing the others: in each target's
// repository of each environment, it reads only that digest's attestations,
// and stops at the first that verifies with the environment's receipt.
func KnownDigest(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, digest string, parallel int) (Known, bool, error) {
	found := errors.New("found")
	var (
		mu    sync.Mutex
		first Known
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for _, target := range cfg.TargetNames() {
		bind := receipt.Bind(cfg, target)
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			g.Go(func() error {
				tag, err := env.Locate(target)
				if err != nil {
					return err
				}
				k, ok, err := knownAs(gctx, verifier, bind, target, env, tag.Context().Digest(digest))
				if err != nil || !ok {
					return err
				}
				mu.Lock()
				first = k
				mu.Unlock()
				return found
			})
		}
	}
	switch err := g.Wait(); {
	case errors.Is(err, found):
		return first, true, nil
	case err != nil:
		return Known{}, false, err
	}
	return Known{}, false, nil
}

// knownAs says whether d, in target's repository of env, is a known digest:
// its attestations verify and it holds env's receipt for target.
func knownAs(ctx context.Context, verifier *attest.Verifier, bind receipt.Binding, target string, env *config.Environment, d name.Digest) (Known, bool, error) {
	rep, err := verifier.Verify(ctx, d)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return Known{}, false, err
		}
		return Known{}, false, nil
	}
	if !receipt.Has(rep, bind, env.Name) {
		return Known{}, false, nil
	}
	k := Known{Target: target, Environment: env.Name, Digest: d.DigestStr()}
	for _, p := range rep.Platforms {
		k.Platforms = append(k.Platforms, p.Digest)
	}
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateSLSAv1 {
			continue
		}
		// Only the dependencies: external parameters of a shape bakery does
		// not write must not hide a descendant from a cascade.
		var p struct {
			BuildDefinition struct {
				ResolvedDependencies []builders.Dependency `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		}
		if json.Unmarshal(a.Predicate, &p) == nil {
			for _, dep := range p.BuildDefinition.ResolvedDependencies {
				if h := dep.Digest["sha256"]; h != "" {
					k.Dependencies = append(k.Dependencies, "sha256:"+h)
				}
			}
		}
	}
	return k, true, nil
}

// Cascade returns the revocation entries that revoking root (entry) implies:
// every known digest whose provenance names root, or a digest it implies,
// as a base or dependency (directly, or through one of its platform images),
// transitively and across targets. Each entry's Cause is the digest it
// depends on.
func Cascade(root revoke.Entry, known []Known) []revoke.Entry {
	// what each revoked digest answers to: itself and its platform images
	aliases := map[string]string{root.Digest: root.Digest}
	for _, k := range known {
		if k.Digest == root.Digest {
			for _, p := range k.Platforms {
				aliases[p] = root.Digest
			}
		}
	}
	var out []revoke.Entry
	revoked := map[string]bool{root.Digest: true}
	for changed := true; changed; {
		changed = false
		for _, k := range known {
			if revoked[k.Digest] {
				continue
			}
			for _, dep := range k.Dependencies {
				cause, ok := aliases[dep]
				if !ok {
					continue
				}
				revoked[k.Digest], changed = true, true
				e := root
				e.Digest, e.Target, e.Cause = k.Digest, k.Target, cause
				out = append(out, e)
				aliases[k.Digest] = k.Digest
				for _, p := range k.Platforms {
					aliases[p] = k.Digest
				}
				break
			}
		}
	}
	return out
}
