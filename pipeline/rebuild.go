package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/util/purl"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Reproduction is the outcome of building a digest again from the inputs
// its verified provenance records (bakery rebuild --verify).
type Reproduction struct {
	Target string `json:"target"`
	// Digest is the digest checked; Rebuilt what the recorded inputs give
	// now ("" when they could not be built: see Differences).
	Digest  string `json:"digest"`
	Rebuilt string `json:"rebuilt,omitempty"`
	// Reproduced is true when Rebuilt is Digest.
	Reproduced bool `json:"reproduced"`
	// NoCache is true when every step ran again (--no-cache).
	NoCache         bool  `json:"noCache"`
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
	// Bases are the base images the rebuild was pinned to, as recorded.
	Bases []builders.Dependency `json:"bases"`
	// Differences are the local inputs that are not the recorded ones: the
	// digest cannot be reproduced from this checkout.
	Differences []string `json:"differences,omitempty"`
}

// Reproduce builds ref's target again, without pushing, from what ref's
// verified provenance records: the target's settings and args, each base
// image pinned to its recorded digest, and the recorded SOURCE_DATE_EPOCH;
// the Dockerfile and context come from this checkout and must have the
// recorded digests. The digest it gives either is ref's or is not.
func Reproduce(ctx context.Context, cfg *config.Config, b builders.Builder, ref name.Digest, verifier *attest.Verifier, noCache bool) (Reproduction, error) {
	subject := ref.String()
	rep, err := verifier.Verify(ctx, ref)
	if err != nil {
		return Reproduction{}, failure.New(failure.ClassOf(err), subject, err, "")
	}
	prov, err := attest.ProvenanceOf(rep)
	if err != nil {
		return Reproduction{}, failure.New(failure.Verify, subject, err, "")
	}
	if prov == nil || prov.BuildDefinition.ExternalParameters.Container == nil {
		return Reproduction{}, failure.New(failure.Config, subject, fmt.Errorf("its provenance records no container build"),
			"rebuild --verify rebuilds container images; a machine image is checked with its record (bakery verify)")
	}
	rec := prov.BuildDefinition.ExternalParameters.Container
	out := Reproduction{Target: rec.Target.Name, Digest: ref.DigestStr(), NoCache: noCache,
		Bases: prov.BuildDefinition.ResolvedDependencies}
	if rec.SourceDateEpoch != nil {
		out.SourceDateEpoch = *rec.SourceDateEpoch
	}
	t, err := recordedTarget(cfg, rec)
	if err != nil {
		return out, err
	}
	if out.Differences = inputDifferences(cfg.Dir, t, rec); len(out.Differences) > 0 {
		return out, nil
	}
	req := builders.Request{Target: t, Dir: cfg.Dir, Repository: ref.Context(), Verify: true, NoCache: noCache,
		SourceDateEpoch: out.SourceDateEpoch, Pinned: pinnedBases(out.Bases)}
	if req.TargetArgs, err = targetImages(cfg, t); err != nil {
		return out, err
	}
	for k, tr := range req.TargetArgs {
		if d, ok := req.Pinned[tr.Image]; ok {
			tr.Digest = d
			req.TargetArgs[k] = tr
		} else {
			out.Differences = append(out.Differences, fmt.Sprintf("build arg %s: the provenance records no digest of %s", k, tr.Image))
		}
	}
	if len(out.Differences) > 0 {
		return out, nil
	}
	res, err := b.Build(ctx, req)
	if err != nil {
		return out, err
	}
	out.Rebuilt = res.Digest.String()
	out.Reproduced = out.Rebuilt == out.Digest
	return out, nil
}

// recordedTarget is the config's target named by the provenance, with the
// settings and args the provenance records (secrets keep the config's
// sources: their values are never recorded; caches are left out).
func recordedTarget(cfg *config.Config, rec *builders.ContainerParameters) (*config.Target, error) {
	ct, err := cfg.LookupTarget(rec.Target.Name)
	if err != nil {
		return nil, err
	}
	t := *ct
	s := rec.Target
	t.Context, t.Dockerfile, t.Target = s.Context, s.Dockerfile, s.Stage
	t.Platforms, t.Labels, t.Args = s.Platforms, s.Labels, rec.Args
	t.CacheFrom, t.CacheTo = nil, nil
	return &t, nil
}

// inputDifferences names each local input whose digest is not the
// recorded one.
func inputDifferences(dir string, t *config.Target, rec *builders.ContainerParameters) []string {
	var out []string
	ctxDir := filepath.Join(dir, t.Context)
	if filepath.IsAbs(t.Context) {
		ctxDir = t.Context
	}
	if rec.Context != nil {
		tree, err := builders.TreeDigest(ctxDir)
		if err != nil || tree != rec.Context.Digest["sha256"] {
			out = append(out, fmt.Sprintf("the context directory %s is not the one recorded (sha256 %s)", ctxDir, short(rec.Context.Digest["sha256"])))
		}
	}
	df := filepath.Join(ctxDir, t.Dockerfile)
	if filepath.IsAbs(t.Dockerfile) {
		df = t.Dockerfile
	}
	b, err := os.ReadFile(df)
	sum := sha256.Sum256(b)
	if err != nil || hex.EncodeToString(sum[:]) != rec.Dockerfile.Digest["sha256"] {
		out = append(out, fmt.Sprintf("the Dockerfile %s is not the one recorded (sha256 %s)", df, short(rec.Dockerfile.Digest["sha256"])))
	}
	if src := rec.Source; src != nil && src.Commit != "" && len(out) > 0 {
		out = append(out, "check out the recorded source first: commit "+src.Commit+" of "+src.URI)
	}
	return out
}

// pinnedBases maps each recorded base image to its recorded digest.
func pinnedBases(deps []builders.Dependency) map[string]string {
	out := map[string]string{}
	for _, d := range deps {
		ref, _, err := purl.PURLToRef(d.URI)
		if err != nil || d.Digest["sha256"] == "" {
			continue
		}
		out[ref] = "sha256:" + d.Digest["sha256"]
	}
	return out
}

func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
