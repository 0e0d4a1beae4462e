package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/revoke"
)

// Verdict is whether build --if-outdated bakes a target again, and why.
type Verdict struct {
	Target string `json:"target"`
	// Digest is what the first environment runs now ("" for nothing).
	Digest string `json:"digest,omitempty"`
	// Reasons are why it is rebuilt; none means it is up to date.
	Reasons []string `json:"reasons,omitempty"`
}

// Outdated says whether the target is rebuilt.
func (v Verdict) Outdated() bool { return len(v.Reasons) > 0 }

// Rebuilds decides, for each of targets, whether the digest the first
// environment runs is still what a build would make now. A target is rebuilt
// when that environment has no verified digest for it, the digest is
// revoked, a base image its provenance records has moved (Outdated), or its
// inputs changed: for a container the Dockerfile, the context directory's
// content, the args or the target's settings; for a machine image the
// template, the variables, the build selection or a source rootfs file.
// bases (pipeline.Bases) names the targets each one is built on: a target
// whose base target is rebuilt is rebuilt after it.
func Rebuilds(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, targets []*config.Target,
	bases map[string][]string, now time.Time) ([]Verdict, error) {
	revs, err := revoke.Load(ctx, cfg, verifier)
	if err != nil {
		return nil, err
	}
	env := &cfg.Environments[0]
	out := make([]Verdict, len(targets))
	resolve := &memo[resolved]{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultParallel)
	for i, t := range targets {
		g.Go(func() error {
			v, err := verdict(gctx, cfg, verifier, revs, env, t, resolve, now)
			out[i] = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	cascade(out, bases)
	return out, nil
}

// cascade rebuilds each target whose base target is rebuilt, transitively.
func cascade(out []Verdict, bases map[string][]string) {
	byName := map[string]*Verdict{}
	for i := range out {
		byName[out[i].Target] = &out[i]
	}
	for changed := true; changed; {
		changed = false
		for i := range out {
			v := &out[i]
			for _, b := range bases[v.Target] {
				if bv, ok := byName[b]; ok && bv.Outdated() && !slices.Contains(v.Reasons, baseRebuilt(b)) {
					v.Reasons = append(v.Reasons, baseRebuilt(b))
					changed = true
				}
			}
		}
	}
}

func baseRebuilt(b string) string { return fmt.Sprintf("its base target %s is rebuilt", b) }

// verdict checks one target against what env runs for it.
func verdict(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, revs *revoke.Set, env *config.Environment,
	t *config.Target, resolve *memo[resolved], now time.Time) (Verdict, error) {
	v := Verdict{Target: t.Name}
	tag, err := env.Locate(t.Name)
	if err != nil {
		return v, err
	}
	d, err := registry.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		v.Reasons = []string{fmt.Sprintf("%s has no digest for it", env.Name)}
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.Digest = d.DigestStr()
	rep, err := verifier.Verify(ctx, d)
	if failure.ClassOf(err) == failure.Unavailable {
		return v, err
	}
	if err != nil {
		v.Reasons = []string{fmt.Sprintf("%s's digest does not verify: %v", env.Name, err)}
		return v, nil
	}
	if e, ok := revs.Revoked(v.Digest, now); ok {
		v.Reasons = append(v.Reasons, "its digest is revoked: "+e.Reason)
	}
	bases, err := basesIn(ctx, rep, t.Name, env, resolve, now)
	if err != nil {
		return v, err
	}
	for _, b := range bases {
		if b.Stale {
			v.Reasons = append(v.Reasons, fmt.Sprintf("base %s moved from %s to %s", b.Image, short(b.Recorded), short(b.Current)))
		}
	}
	changes, err := inputChanges(cfg.Dir, t, rep)
	v.Reasons = append(v.Reasons, changes...)
	return v, err
}

// inputChanges compares t's inputs now with the external parameters the
// verified provenance records. A provenance that does not decode, strictly,
// is an error (failure.Verify), not a guess.
func inputChanges(dir string, t *config.Target, rep *attest.Report) ([]string, error) {
	prov, err := attest.ProvenanceOf(rep)
	if err != nil {
		return nil, err
	}
	if prov == nil || prov.BuildDefinition.ExternalParameters.Kind() == "" {
		return []string{"its provenance records no inputs"}, nil
	}
	recorded := prov.BuildDefinition.ExternalParameters
	if t.Type == config.TypePacker {
		if recorded.MachineImage == nil {
			return []string{"its provenance records a container build, not a machine image's"}, nil
		}
		return packerChanges(dir, t, recorded.MachineImage, prov.BuildDefinition.ResolvedDependencies)
	}
	if recorded.Container == nil {
		return []string{"its provenance records a machine image build, not a container's"}, nil
	}
	now, err := buildkit.Inputs(dir, t)
	if err != nil {
		return nil, failure.New(failure.Config, fmt.Sprintf("target %q", t.Name), err, "fix its context and Dockerfile")
	}
	was := *recorded.Container
	for _, s := range []*builders.TargetSettings{&now.Target, &was.Target} {
		s.CacheFrom, s.CacheTo = nil, nil // where the cache lives does not change the image
	}
	what := map[string]string{"dockerfile": "its Dockerfile", "context": "its context directory",
		"args": "its args", "target": "its settings (platforms, stage, labels or secrets)"}
	return differences(
		map[string]any{"dockerfile": now.Dockerfile, "context": now.Context, "args": now.Args, "target": now.Target},
		map[string]any{"dockerfile": was.Dockerfile, "context": was.Context, "args": was.Args, "target": was.Target},
		what), nil
}

// packerChanges compares a machine image's template, variables and
// selection, and a source rootfs file, with its provenance.
func packerChanges(dir string, t *config.Target, was *builders.MachineImageParameters, deps []builders.Dependency) ([]string, error) {
	tmpl, err := machineimage.FileOf(abs(dir, t.Template))
	if err != nil {
		return nil, failure.New(failure.Config, fmt.Sprintf("target %q", t.Name), err, "fix targets."+t.Name+".template")
	}
	now := map[string]any{
		"template":  map[string]any{"path": t.Template, "digest": map[string]string{"sha256": strings.TrimPrefix(tmpl.Digest, "sha256:")}},
		"variables": t.Variables, "only": t.Only, "except": t.Except,
	}
	what := map[string]string{"template": "its template", "variables": "its variables",
		"only": "its build selection (only)", "except": "its build selection (except)"}
	recorded := map[string]any{"template": was.Template, "variables": was.Variables, "only": was.Only, "except": was.Except}
	changes := differences(now, recorded, what)
	for _, dep := range deps {
		path, ok := strings.CutPrefix(dep.URI, "file://")
		if !ok || dep.Digest["sha256"] == "" {
			continue
		}
		f, err := machineimage.FileOf(path)
		if err != nil || f.Digest != "sha256:"+dep.Digest["sha256"] {
			changes = append(changes, "its source "+path+" changed")
		}
	}
	return changes, nil
}

// differences names each key whose JSON differs between now and recorded
// (an empty list and an absent one are the same).
func differences(now, recorded map[string]any, what map[string]string) []string {
	keys := make([]string, 0, len(what))
	for k := range what {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		was, is := normal(recorded[k]), normal(now[k])
		switch {
		case reflect.DeepEqual(was, is):
		case was == nil:
			out = append(out, what[k]+" is not in its provenance (built by an older bakery)")
		default:
			out = append(out, what[k]+" changed")
		}
	}
	return out
}

// normal round-trips v through JSON, with empty lists, maps and strings
// dropped, so values compare as the provenance records them.
func normal(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return prune(out)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e = prune(e); e == nil {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}

func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
