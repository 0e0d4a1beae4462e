package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// builtNow maps each target built so far in this run to its digest.
func builtNow(results []*Built, targets []*config.Target) map[string]string {
	out := map[string]string{}
	for i, r := range results {
		if r != nil {
			out[targets[i].Name] = r.Digest.String()
		}
	}
	return out
}

// targetArgs resolves each of t's build args that names a target
// (BASE: target:golden-base) to that target's first-environment image,
// pinned to the digest built in this run (built), or else to the digest
// the first environment holds now. The pin is what the build uses and its
// provenance records.
func targetArgs(ctx context.Context, cfg *config.Config, t *config.Target, built map[string]string) (map[string]builders.TargetRef, error) {
	env := &cfg.Environments[0]
	refs, err := targetImages(cfg, t)
	if err != nil {
		return nil, err
	}
	for k, tr := range refs {
		d, ok := built[tr.Target]
		if !ok {
			tag, _ := env.Locate(tr.Target) // located by targetImages
			ref, err := registry.Resolve(ctx, tag)
			if errors.Is(err, registry.ErrNotFound) {
				return nil, failure.New(failure.Config, Subject(t), fmt.Errorf("build arg %s = %s: %s holds no digest of %s (%s)", k, t.Args[k], env.Name, tr.Target, tag),
					"build "+tr.Target+" first, or in the same run: bakery build "+tr.Target+" "+t.Name)
			}
			if err != nil {
				return nil, failure.New(failure.ClassOf(err), Subject(t), fmt.Errorf("build arg %s = %s: %w", k, t.Args[k], err), "")
			}
			d = ref.DigestStr()
		}
		tr.Digest = d
		refs[k] = tr
	}
	return refs, nil
}

// targetImages is, for each of t's build args that names a target, that
// target's first-environment image, not yet pinned to a digest.
func targetImages(cfg *config.Config, t *config.Target) (map[string]builders.TargetRef, error) {
	env := &cfg.Environments[0]
	var out map[string]builders.TargetRef
	for k, v := range t.Args {
		other, ok := config.TargetArg(v)
		if !ok {
			continue
		}
		tag, err := env.Locate(other)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]builders.TargetRef{}
		}
		out[k] = builders.TargetRef{Target: other, Image: tag.String()}
	}
	return out, nil
}

// HardCodedBases warns, for each build arg or packer variable that names
// another target's image by hand instead of target:NAME: a configured
// repository of that target (which then depends on which registry path the
// config spells), or any repository named after it outside this config's
// environments (a copied config whose environments were renamed).
func HardCodedBases(cfg *config.Config) []string {
	var out []string
	for _, t := range cfg.TargetNames() {
		tgt, _ := cfg.LookupTarget(t)
		values, key := tgt.Args, "args"
		if tgt.Type == config.TypePacker {
			values, key = tgt.Variables, "variables"
		}
		for k, v := range values {
			if w := hardCoded(cfg, t, key+"."+k, v); w != "" {
				out = append(out, w)
			}
		}
	}
	sort.Strings(out)
	return out
}

func hardCoded(cfg *config.Config, t, k, v string) string {
	if _, ok := config.TargetArg(v); ok || !strings.Contains(v, "/") {
		return ""
	}
	ref, err := name.ParseReference(v, name.WeakValidation)
	if err != nil {
		return ""
	}
	repo := ref.Context().Name()
	for _, other := range cfg.TargetNames() {
		if other == t {
			continue
		}
		_, arg, _ := strings.Cut(k, ".")
		fix := fmt.Sprintf("write %s: target:%s so bakery builds on the digest it made", arg, other)
		for i := range cfg.Environments {
			e := &cfg.Environments[i]
			if r, err := e.RepositoryFor(other); err == nil && r.Name() == repo {
				return fmt.Sprintf("targets.%s.%s names %s's %s image by hand (%s): %s", t, k, other, e.Name, v, fix)
			}
		}
		if repo == other || strings.HasSuffix(repo, "/"+other) {
			return fmt.Sprintf("targets.%s.%s names a repository called %s outside this config's environments (%s): %s", t, k, other, v, fix)
		}
	}
	return ""
}

// unchanged is the outcome of a build that made the digest the first
// environment already runs, published: nothing is attested, signed or
// tagged again. ok is false when the digest is new, or when what the tag
// points at was never published (then it is published as any new build).
func unchanged(ctx context.Context, env *config.Environment, req builders.Request, res builders.Result, opts BuildOptions) (Built, bool) {
	tag, err := env.Locate(res.Target)
	if err != nil {
		return Built{}, false
	}
	cur, err := registry.Resolve(ctx, tag)
	if err != nil || cur.DigestStr() != res.Digest.String() {
		return Built{}, false
	}
	if opts.Current != nil && !opts.NoAttest && !opts.Current(ctx, req.Repository.Digest(res.Digest.String())) {
		return Built{}, false
	}
	res.Tags = []string{tag.TagStr()}
	return Built{Result: res, Unchanged: true}, true
}
