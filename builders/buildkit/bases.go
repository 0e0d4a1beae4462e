package buildkit

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/purl"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/registry"
)

// base is one image a build pulls (a FROM, or a COPY --from that names an
// image), as the Dockerfile names it once its args are expanded, and the
// digest bakery resolved it to, once, before the build: the build is pinned
// to that digest, and the provenance records it.
type base struct {
	// Ref is the reference as the Dockerfile names it.
	Ref string
	// Digest is what Ref pointed at when bakery resolved it (sha256:...).
	Digest string
}

// contextKey is the frontend attribute that makes the Dockerfile frontend
// take this base from bakery's pin instead of resolving its tag again
// (BuildKit's named contexts, as buildx --build-context does).
func (b base) contextKey() (string, error) {
	named, err := reference.ParseNormalizedNamed(b.Ref)
	if err != nil {
		return "", err
	}
	return "context:" + strings.TrimSuffix(reference.FamiliarString(named), ":latest"), nil
}

// pinned is the named context's value: the base by digest.
func (b base) pinned() (string, error) {
	named, err := reference.ParseNormalizedNamed(b.Ref)
	if err != nil {
		return "", err
	}
	return "docker-image://" + named.Name() + "@" + b.Digest, nil
}

// dependencies are the bases as SLSA resolved dependencies, one per
// platform built, in the purl form BuildKit's own provenance used
// (pkg:docker/REPO@TAG?platform=os%2Farch), so provenance written before
// bakery pinned its bases reads the same.
func dependencies(bases []base, plats []string) ([]builders.Dependency, error) {
	var out []builders.Dependency
	for _, b := range bases {
		for _, p := range plats {
			spec, err := platforms.Parse(p)
			if err != nil {
				return nil, err
			}
			uri, err := purl.RefToPURL("docker", b.Ref, &spec)
			if err != nil {
				return nil, err
			}
			out = append(out, builders.Dependency{URI: uri, Digest: map[string]string{"sha256": strings.TrimPrefix(b.Digest, "sha256:")}})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].URI < out[j].URI })
	return out, nil
}

// resolveBases resolves each image the Dockerfile pulls for stage (the last
// stage when empty) to a digest, once: an image pinned in args (pins: the
// image a target:NAME argument stands for, built in this run) takes that
// digest, one named by digest keeps it, any other is asked of its registry
// now.
func resolveBases(ctx context.Context, src []byte, stage string, args map[string]string, pins map[string]string) ([]base, error) {
	refs, err := pulledImages(src, stage, args)
	if err != nil {
		return nil, err
	}
	norm := make(map[string]string, len(pins))
	for r, d := range pins {
		norm[normalized(r)] = d
	}
	out := make([]base, 0, len(refs))
	for _, r := range refs {
		if d, ok := norm[normalized(r)]; ok {
			out = append(out, base{Ref: r, Digest: d})
			continue
		}
		ref, err := name.ParseReference(r, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("base image %q: %w", r, err)
		}
		d, err := registry.Resolve(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("resolving base image %s: %w", r, err)
		}
		out = append(out, base{Ref: r, Digest: d.DigestStr()})
	}
	return out, nil
}

// normalized is ref in its full form (docker.io/library/debian:latest for
// debian), so that a pin matches however the Dockerfile spells the image.
func normalized(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}

// pulledImages lists, sorted and once each, the images a build of stage
// pulls: the FROM of each stage it depends on (through FROM and COPY
// --from), and images COPY --from names directly. scratch pulls nothing.
func pulledImages(src []byte, stage string, args map[string]string) ([]string, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	env := metaEnv(metaArgs, args)
	lex := shell.NewLex(res.EscapeToken)
	expand := func(w string) string {
		v, _, err := lex.ProcessWord(w, env)
		if err != nil {
			return w
		}
		return v
	}
	w := &walk{stages: stages, expand: expand, seen: map[int]bool{}, images: map[string]bool{}}
	target := len(stages) - 1
	if stage != "" {
		if target = w.stageIndex(stage); target < 0 {
			return nil, fmt.Errorf("no stage named %q", stage)
		}
	}
	w.visit(target)
	out := make([]string, 0, len(w.images))
	for r := range w.images {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// metaEnv is the args a FROM may use: those declared before the first FROM,
// with their defaults, overridden by the build's args.
func metaEnv(metaArgs []instructions.ArgCommand, args map[string]string) shell.EnvGetter {
	var kv []string
	for _, a := range metaArgs {
		for _, p := range a.Args {
			v, ok := args[p.Key]
			if !ok && p.Value != nil {
				v, ok = *p.Value, true
			}
			if ok {
				kv = append(kv, p.Key+"="+v)
			}
		}
	}
	return shell.EnvsFromSlice(kv)
}

// walk follows the stages a stage depends on.
type walk struct {
	stages []instructions.Stage
	expand func(string) string
	seen   map[int]bool
	images map[string]bool
}

func (w *walk) stageIndex(s string) int {
	for i, st := range w.stages {
		if st.Name != "" && strings.EqualFold(st.Name, s) {
			return i
		}
	}
	return -1
}

func (w *walk) visit(i int) {
	if w.seen[i] {
		return
	}
	w.seen[i] = true
	st := w.stages[i]
	w.source(w.expand(st.BaseName), i)
	for _, c := range st.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
			w.source(w.expand(cp.From), i)
		}
	}
}

// source is what a FROM or COPY --from in stage at names: an earlier stage
// (by name or index), scratch, or an image.
func (w *walk) source(s string, at int) {
	if strings.EqualFold(s, "scratch") || s == "" {
		return
	}
	if j := w.stageIndex(s); j >= 0 && j < at {
		w.visit(j)
		return
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < at {
		w.visit(n)
		return
	}
	w.images[s] = true
}
