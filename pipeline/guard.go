package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/revoke"
)

// BaseGuard refuses to build on a revoked base: an image a build argument
// names (checked before the build, so nothing is pushed), and every
// material BuildKit recorded as resolved (checked after the build pushed by
// digest and before anything is signed or tagged, which closes the window
// in which the argument's tag could move).
type BaseGuard struct {
	// Load reads the revocation lists, once, when the first base is
	// checked: after Build has found the registries reachable, so that a
	// registry that is down is reported as such, by name.
	Load func(context.Context) (*revoke.Lineage, error)
	// Allow builds anyway, with this reason, recorded in the provenance
	// (Parameters.RevokedBaseOverride).
	Allow string

	once    sync.Once
	lineage *revoke.Lineage
	err     error
}

// lin is the lineage check, loaded once; nil when there is no guard.
func (g *BaseGuard) lin(ctx context.Context) (*revoke.Lineage, error) {
	if g == nil || g.Load == nil {
		return nil, nil
	}
	g.once.Do(func() { g.lineage, g.err = g.Load(ctx) })
	return g.lineage, g.err
}

// before checks the images t's build arguments name. An argument that is not
// an image reference, or names nothing, is not a base.
func (g *BaseGuard) before(ctx context.Context, req builders.Request) ([]builders.BaseOverride, error) {
	lin, err := g.lin(ctx)
	if err != nil || lin == nil {
		return nil, err
	}
	t, args := req.Target, req.Args()
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []builders.BaseOverride
	for _, k := range keys {
		v := args[k]
		d, ok, err := argDigest(ctx, req, k, v)
		if err != nil {
			return nil, failure.New(failure.Unavailable, Subject(t), err, "")
		}
		if !ok {
			continue
		}
		e, revoked, err := lin.CheckBase(ctx, d, time.Now())
		if err != nil {
			return nil, failure.New(failure.ClassOf(err), Subject(t), err, "")
		}
		if revoked {
			rb, err := g.refuse(t, "build arg "+k+" = "+v+" ("+d.DigestStr()+")", e)
			if err != nil {
				return nil, err
			}
			out = append(out, rb)
		}
	}
	return out, nil
}

// argDigest is the image build arg k = v stands for, by digest: the pin of
// a target arg, else what the reference points at now. ok is false for an
// arg that is not an image reference or names nothing (yet: the build will
// say so); err is a registry that is down.
func argDigest(ctx context.Context, req builders.Request, k, v string) (name.Digest, bool, error) {
	if tr, ok := req.TargetArgs[k]; ok {
		tag, err := name.NewTag(tr.Image, name.Insecure)
		if err != nil {
			return name.Digest{}, false, nil
		}
		return tag.Context().Digest(tr.Digest), true, nil
	}
	if !strings.Contains(v, "/") {
		return name.Digest{}, false, nil // not a registry reference
	}
	ref, err := name.ParseReference(v, name.Insecure)
	if err != nil {
		return name.Digest{}, false, nil
	}
	d, err := registry.Resolve(ctx, ref)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return name.Digest{}, false, err
		}
		return name.Digest{}, false, nil
	}
	return d, true, nil
}

// after checks the materials a build recorded.
func (g *BaseGuard) after(ctx context.Context, t *config.Target, res builders.Result) ([]builders.BaseOverride, error) {
	lin, err := g.lin(ctx)
	if err != nil || lin == nil || res.Invocation == nil {
		return nil, err
	}
	var ms []revoke.Material
	for _, d := range res.Invocation.ResolvedDependencies {
		if h := d.Digest["sha256"]; h != "" {
			ms = append(ms, revoke.Material{URI: d.URI, Digest: "sha256:" + h})
		}
	}
	e, revoked, err := lin.CheckMaterials(ctx, res.Digest.String(), ms, time.Now())
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), Subject(t), err, "")
	}
	if !revoked {
		return nil, nil
	}
	rb, err := g.refuse(t, "a base it was built on", e)
	if err != nil {
		return nil, err
	}
	return []builders.BaseOverride{rb}, nil
}

// refuse is the refusal (exit 4) of a build on a revoked base, or, with
// Allow, the record of the override.
func (g *BaseGuard) refuse(t *config.Target, what string, e revoke.Entry) (builders.BaseOverride, error) {
	revoked := e.Digest
	if e.Cause != "" {
		revoked = e.Cause
	}
	rb := builders.BaseOverride{Digest: revoked, Reason: g.Allow}
	if g.Allow != "" {
		return rb, nil
	}
	return rb, failure.New(failure.Verify, Subject(t), fmt.Errorf("%s is %s", what, e.Describe()),
		"build on a base that is not revoked (bakery status shows the fix), or pass --allow-revoked-base REASON to build anyway (recorded in the provenance)")
}
