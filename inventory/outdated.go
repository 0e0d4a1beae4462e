package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// Base is one base image an environment's digest was built on, as its
// verified provenance records it, and what its tag points at now.
type Base struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	// Image is the base's repository:tag; Recorded the digest the build used;
	// Current the digest the tag points at now.
	Image    string `json:"image"`
	Recorded string `json:"recorded"`
	Current  string `json:"current"`
	Stale    bool   `json:"stale"`
	// Since is when the current base was made (its config's created time),
	// and Days how many whole days ago that is: how long the image has been
	// stale. Both are empty when the base records no time.
	Since string `json:"since,omitempty"`
	Days  int    `json:"days,omitempty"`
}

// Outdated compares, for the digest each environment runs for each of
// targets (all when empty), the base images its verified provenance records
// (repository, tag and digest) with what those tags point at now. A base
// pinned by digest in the Dockerfile cannot move and is not listed. A base
// that is itself a bakery target is resolved the same way, so golden-base →
// app chains show up. Bases are resolved once per run.
func Outdated(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, targets []string, now time.Time) ([]Base, error) {
	if len(targets) == 0 {
		targets = cfg.TargetNames()
	}
	var (
		mu  sync.Mutex
		out []Base
	)
	resolve := &memo[resolved]{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultParallel)
	for _, target := range targets {
		if _, err := cfg.LookupTarget(target); err != nil {
			return nil, err
		}
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			g.Go(func() error {
				bases, err := basesOf(gctx, verifier, target, env, resolve, now)
				mu.Lock()
				out = append(out, bases...)
				mu.Unlock()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Target+"\x00"+a.Environment+"\x00"+a.Image < b.Target+"\x00"+b.Environment+"\x00"+b.Image
	})
	return out, nil
}

// resolved is what a base tag points at now (or what a recorded base
// digest is).
type resolved struct {
	digest string
	// members are an index's platform manifests, which a build's
	// provenance may name instead of the index; platforms maps each
	// platform ("linux/amd64") to its manifest (attestation manifests left
	// out). Both are empty for a single image.
	members   []string
	platforms map[string]string
	created   time.Time
}

// gone is the digest of a base tag, or recorded base, that is not there.
const gone = "(gone)"

// basesOf reads the bases of what env runs for target.
func basesOf(ctx context.Context, verifier *attest.Verifier, target string, env *config.Environment, resolve *memo[resolved], now time.Time) ([]Base, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	d, err := registry.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rep, err := verifier.Verify(ctx, d)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		// Unverified provenance is not trusted: bakery status --check
		// reports the digest itself.
		return nil, nil
	}
	return basesIn(ctx, rep, target, env, resolve, now)
}

// basesIn reads the bases a verified report's provenance records, and where
// their tags point now.
func basesIn(ctx context.Context, rep *attest.Report, target string, env *config.Environment, resolve *memo[resolved], now time.Time) ([]Base, error) {
	var out []Base
	for _, dep := range dependencies(rep) {
		image, ok := baseImage(dep.URI)
		if !ok || dep.Digest["sha256"] == "" {
			continue
		}
		cur, err := resolve.get(image, func() (resolved, error) { return resolveBase(ctx, image, env.Insecure) })
		if err != nil {
			return out, err
		}
		b := Base{Target: target, Environment: env.Name, Digest: rep.Digest.String(), Image: image,
			Recorded: "sha256:" + dep.Digest["sha256"], Current: cur.digest}
		b.Stale = b.Recorded != cur.digest && !contains(cur.members, b.Recorded)
		if b.Stale {
			same, err := sameConsumed(ctx, resolve, image, b.Recorded, platformParam(dep.URI), cur, env.Insecure)
			if err != nil {
				return out, err
			}
			b.Stale = !same
		}
		// A reproducible image stamped with SOURCE_DATE_EPOCH 0 records no time.
		if b.Stale && cur.created.Unix() > 0 {
			b.Since = cur.created.UTC().Format(time.RFC3339)
			b.Days = int(now.Sub(cur.created).Hours() / 24)
		}
		out = append(out, b)
	}
	return out, nil
}

// dependency is a resolved dependency in SLSA provenance.
type dependency struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

func dependencies(rep *attest.Report) []dependency {
	var out []dependency
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateSLSAv1 {
			continue
		}
		var p struct {
			BuildDefinition struct {
				ResolvedDependencies []dependency `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		}
		if json.Unmarshal(a.Predicate, &p) == nil {
			out = append(out, p.BuildDefinition.ResolvedDependencies...)
		}
	}
	return out
}

// baseImage turns a provenance purl, pkg:docker/REPO@TAG?platform=..., into
// REPO:TAG. A base named by digest (pinned) is not one that can move.
func baseImage(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "pkg:docker/")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	repo, version, ok := strings.Cut(rest, "@")
	if !ok || strings.HasPrefix(version, "sha256:") {
		return "", false
	}
	repo, err := url.PathUnescape(repo)
	if err != nil {
		return "", false
	}
	return repo + ":" + version, true
}

// sameConsumed says whether the build consumed the same image from the
// base it recorded as from what the base's tag points at now (cur), for
// the platform the build used (its dependency's platform qualifier): an
// index that moved only in its other platforms, or in BuildKit's own
// attestation manifests, gave the build the same image. The recorded
// digest is read from the base's repository; when it is no longer there,
// or the platform is not known, only equal digests are the same.
func sameConsumed(ctx context.Context, resolve *memo[resolved], image, recorded, platform string, cur resolved, insecure bool) (bool, error) {
	if platform == "" || cur.digest == gone {
		return false, nil
	}
	tag, err := name.NewTag(image, nameOpts(insecure)...)
	if err != nil {
		return false, failure.New(failure.Config, image, err, "")
	}
	ref := tag.Context().Digest(recorded)
	rec, err := resolve.get(ref.String(), func() (resolved, error) { return resolveRef(ctx, ref, ref.String()) })
	if err != nil || rec.digest == gone {
		return false, err
	}
	consumed := func(r resolved) string {
		if r.platforms == nil {
			return r.digest
		}
		return r.platforms[platform]
	}
	return consumed(rec) != "" && consumed(rec) == consumed(cur), nil
}

// platformParam is the platform qualifier of a provenance purl
// (pkg:docker/REPO@TAG?platform=linux%2Famd64): "linux/amd64", or "".
func platformParam(uri string) string {
	_, query, ok := strings.Cut(uri, "?")
	if !ok {
		return ""
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return q.Get("platform")
}

func nameOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// resolveBase resolves a base tag now, once per run.
func resolveBase(ctx context.Context, image string, insecure bool) (resolved, error) {
	tag, err := name.NewTag(image, nameOpts(insecure)...)
	if err != nil {
		return resolved{}, failure.New(failure.Config, image, err, "")
	}
	return resolveRef(ctx, tag, image)
}

// resolveRef reads what ref is: its digest, an index's platform
// manifests, and when it was made. Nothing there is gone, not an error.
func resolveRef(ctx context.Context, ref name.Reference, image string) (resolved, error) {
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			return resolved{digest: gone}, nil
		}
		return resolved{}, registry.Classify(image, err)
	}
	r := resolved{digest: desc.Digest.String()}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return r, registry.Classify(image, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return r, registry.Classify(image, err)
		}
		r.platforms = map[string]string{}
		for _, md := range m.Manifests {
			r.members = append(r.members, md.Digest.String())
			if md.Platform != nil && !registry.IsAttestationManifest(md) {
				r.platforms[md.Platform.String()] = md.Digest.String()
			}
		}
		if len(m.Manifests) > 0 {
			if img, err := idx.Image(m.Manifests[0].Digest); err == nil {
				if cf, err := img.ConfigFile(); err == nil {
					r.created = cf.Created.Time
				}
			}
		}
		return r, nil
	}
	if img, err := desc.Image(); err == nil {
		if cf, err := img.ConfigFile(); err == nil {
			r.created = cf.Created.Time
		}
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
