// Package buildkit builds container targets on a real buildkitd through the
// BuildKit Go client, with the built-in Dockerfile frontend (no frontend image
// is pulled), and pushes each result by digest.
package buildkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
)

// Builder builds container targets on a fleet of buildkitd nodes: each
// target on a node that builds its platforms natively, least loaded first;
// a multi-platform target that no one node builds natively is split, each
// platform built where it is native and the results assembled into one OCI
// index, as buildx does for a multi-node builder. A node that stops
// answering is marked down and its solves run again on another node; a
// failing Dockerfile step is not retried. builder.address alone is a fleet
// of one node.
type Builder struct {
	fleet    *fleet
	progress progress.Streamer
}

var (
	_ builders.Builder = (*Builder)(nil)
	_ builders.Checker = (*Builder)(nil)
)

// New connects to every node and asks each for its version and platforms,
// so a fleet with no node up is reported before any build starts (class
// failure.Unavailable), and a node that refuses bakery's certificate is a
// config error naming it. Relative TLS file paths are resolved against dir.
func New(ctx context.Context, cfg config.Builder, dir string, p progress.Streamer) (*Builder, error) {
	f, err := connect(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	return &Builder{fleet: f, progress: p}, nil
}

// unreachable shortens gRPC's connection errors to their cause.
func unreachable(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "dial "); i >= 0 {
		msg = strings.TrimSuffix(msg[i:], "\"")
	}
	return errors.New("unreachable: " + msg)
}

// Close closes the connections to the nodes.
func (b *Builder) Close() error {
	b.fleet.close()
	return nil
}

// Check fails, before anything is built, for a target with a platform that
// no node builds natively while builder.emulation is false.
func (b *Builder) Check(t *config.Target) error { return b.fleet.check(t) }

// Build bakes a container target and pushes it by digest to req.Repository.
func (b *Builder) Build(ctx context.Context, req builders.Request) (builders.Result, error) {
	t := req.Target
	subject := fmt.Sprintf("target %q", t.Name)
	in, err := prepare(req)
	if err != nil {
		return builders.Result{}, err
	}
	if in.bases, err = resolveBases(ctx, in.src, t.Target, req.Args(), req.Pins()); err != nil {
		return builders.Result{}, failure.New(baseClass(err), subject, err, "check that the base images its Dockerfile names exist and their registries are up")
	}
	secrets, err := secretsprovider.NewStore(in.secrets)
	if err != nil {
		return builders.Result{}, failure.New(failure.Config, subject, err, "fix the target's secrets")
	}
	started := time.Now().UTC()
	plats := normalize(t.Platforms)
	var parts []part
	if req.Verify {
		pt, err := b.solve(ctx, req, in, secrets, plats, t.Name)
		return builders.Result{Target: t.Name, Kind: builders.Container, Repository: req.Repository.Name(), Digest: pt.digest}, err
	}
	if b.fleet.splits(plats) {
		parts, err = b.split(ctx, req, in, secrets, plats)
	} else {
		var pt part
		pt, err = b.solve(ctx, req, in, secrets, plats, t.Name)
		parts = []part{pt}
	}
	if err != nil {
		return builders.Result{}, err
	}
	finished := time.Now().UTC()
	dgst, nodes := parts[0].digest, map[string]string{}
	if len(parts) > 1 {
		if dgst, err = assemble(ctx, req.Repository, parts); err != nil {
			return builders.Result{}, failure.New(failure.ClassOf(err), subject, fmt.Errorf("assembling the platforms' index: %w", err), "")
		}
	}
	res, err := describe(ctx, req, dgst, in.bases)
	if err != nil {
		return builders.Result{}, failure.New(failure.ClassOf(err), subject, err, "")
	}
	for _, pt := range parts {
		res.Builder = pt.node.info
		for _, p := range pt.platforms(res.Platforms) {
			nodes[p] = pt.node.name
		}
	}
	res.Nodes = nodes
	res.Invocation.StartedOn, res.Invocation.FinishedOn = started, finished
	res.Invocation.ExternalParameters = externalParameters(ctx, req, in)
	return res, nil
}

// part is one solve of a target: the digest it pushed, the node that built
// it, and its platform when the target was split by platform.
type part struct {
	digest   v1.Hash
	node     *node
	platform string
}

func (p part) platforms(all []string) []string {
	if p.platform != "" {
		return []string{p.platform}
	}
	return all
}

// split builds each platform of t on its own node, at once.
func (b *Builder) split(ctx context.Context, req builders.Request, in input, secrets secrets.SecretStore, plats []string) ([]part, error) {
	parts := make([]part, len(plats))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range plats {
		g.Go(func() error {
			one := *req.Target
			one.Platforms = []string{p}
			r := req
			r.Target = &one
			pt, err := b.solve(gctx, r, in, secrets, []string{p}, req.Target.Name+" "+p)
			pt.platform = p
			parts[i] = pt
			return err
		})
	}
	return parts, g.Wait()
}

// solve runs req's solve on a node that builds plats, and again on another
// node for as long as the node it ran on went down.
func (b *Builder) solve(ctx context.Context, req builders.Request, in input, store secrets.SecretStore, plats []string, stream string) (part, error) {
	subject := fmt.Sprintf("target %q", req.Target.Name)
	skip := map[*node]bool{}
	var lost []string
	for {
		n, err := b.fleet.acquire(ctx, plats, skip)
		if err != nil {
			if len(lost) > 0 {
				err = fmt.Errorf("%w (lost mid-build: %s)", err, strings.Join(lost, "; "))
			}
			return part{}, failure.New(failure.Unavailable, subject, err, "start a node that builds it, or check builder.nodes")
		}
		var status chan *client.SolveStatus
		if b.progress != nil {
			status = b.progress.Stream(stream)
		}
		resp, err := n.client.Solve(ctx, nil, solveOpt(req, in, store), status)
		if b.fleet.release(ctx, n, err) {
			skip[n] = true
			lost = append(lost, fmt.Sprintf("%s: %s", n, failure.OneLine(err.Error())))
			continue
		}
		if err != nil {
			return part{}, solveError(subject, err)
		}
		dgst, err := v1.NewHash(resp.ExporterResponse[exptypes.ExporterImageDigestKey])
		if err != nil {
			return part{}, failure.New(failure.Build, subject, fmt.Errorf("%s reported no image digest: %w", n, err), "")
		}
		return part{digest: dgst, node: n}, nil
	}
}

// describe reads the pushed manifest back from the registry by digest, once:
// it confirms the registry holds exactly what was reported, and gives the
// summary; the bases bakery pinned become the resolved dependencies.
func describe(ctx context.Context, req builders.Request, dgst v1.Hash, bases []base) (builders.Result, error) {
	ref := req.Repository.Digest(dgst.String())
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		return builders.Result{}, registry.Classify(ref.String(), err)
	}
	sum, err := registry.Summarize(ref, desc)
	if err != nil {
		return builders.Result{}, err
	}
	deps, err := dependencies(bases, sum.Platforms)
	if err != nil {
		return builders.Result{}, err
	}
	return builders.Result{
		Target:     req.Target.Name,
		Kind:       builders.Container,
		Repository: req.Repository.Name(),
		Digest:     dgst,
		MediaType:  string(sum.MediaType),
		Platforms:  sum.Platforms,
		Size:       sum.Size,
		Invocation: &builders.Invocation{ResolvedDependencies: deps},
	}, nil
}

// externalParameters records the target's inputs for provenance, and the
// git checkout they came from.
func externalParameters(ctx context.Context, req builders.Request, in input) builders.Parameters {
	t := req.Target
	params := inputs(t, in.dockerfileSHA256, in.contextSHA256)
	params.Source = builders.GitSource(ctx, abs(req.Dir, t.Context))
	epoch := req.SourceDateEpoch
	params.SourceDateEpoch = &epoch
	return builders.Parameters{Container: params}
}

// Inputs is what a build of t from dir (the config's directory) records as
// its external parameters, without the git source: the target's settings, its
// args, and the digests of its Dockerfile and of its context directory.
// build --if-outdated compares it with the provenance of what runs now.
func Inputs(dir string, t *config.Target) (*builders.ContainerParameters, error) {
	ctxDir := abs(dir, t.Context)
	dockerfile := filepath.Join(ctxDir, t.Dockerfile)
	if filepath.IsAbs(t.Dockerfile) {
		dockerfile = t.Dockerfile
	}
	df, err := machineimage.FileOf(dockerfile)
	if err != nil {
		return nil, err
	}
	tree, err := builders.TreeDigest(ctxDir)
	if err != nil {
		return nil, err
	}
	return inputs(t, strings.TrimPrefix(df.Digest, "sha256:"), tree), nil
}

// inputs are a target's external parameters. Secrets appear by id and source
// kind only, never by value.
func inputs(t *config.Target, dockerfileSHA256, contextSHA256 string) *builders.ContainerParameters {
	secrets := make([]builders.SecretRef, 0, len(t.Secrets))
	for _, s := range t.Secrets {
		kind := "file"
		if s.Env != "" {
			kind = "env"
		}
		secrets = append(secrets, builders.SecretRef{ID: s.ID, Source: kind})
	}
	return &builders.ContainerParameters{
		Target: builders.TargetSettings{
			Name: t.Name, Type: t.Type, Context: t.Context, Dockerfile: t.Dockerfile,
			Stage: t.Target, Platforms: t.Platforms, Labels: t.Labels,
			Secrets: secrets, CacheFrom: t.CacheFrom, CacheTo: t.CacheTo,
		},
		Args:       t.Args,
		Dockerfile: builders.Input{Path: t.Dockerfile, Digest: map[string]string{"sha256": dockerfileSHA256}},
		Context:    &builders.Input{Path: t.Context, Digest: map[string]string{"sha256": contextSHA256}},
	}
}

// solveOpt is the solve of one target: the Dockerfile frontend over the
// checked inputs, pushed by digest to the request's repository.
func solveOpt(req builders.Request, in input, store secrets.SecretStore) client.SolveOpt {
	t := req.Target
	return client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(req, filepath.Base(in.dockerfile), in.bases),
		LocalMounts: map[string]fsutil.FS{
			"context":    in.contextFS,
			"dockerfile": in.dockerfileFS,
		},
		Exports:      []client.ExportEntry{{Type: client.ExporterImage, Attrs: exportAttrs(req)}},
		CacheImports: cacheEntries(t.CacheFrom),
		CacheExports: cacheEntries(t.CacheTo),
		Session: []session.Attachable{
			authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
				AuthConfigProvider: authprovider.LoadAuthConfig(dockerconfig.LoadDefaultConfigFile(io.Discard)),
			}),
			secretsprovider.NewSecretProvider(store),
		},
	}
}

// exportAttrs push the image by digest to the request's repository, or,
// for a rebuild that only verifies, keep it in buildkitd and report its
// digest.
func exportAttrs(req builders.Request) map[string]string {
	attrs := map[string]string{
		"oci-mediatypes": "true",
		// The times of the files the build writes are clamped to
		// SOURCE_DATE_EPOCH (the base's layers are left alone), so a
		// rebuild without the cache makes the same layers.
		"rewrite-timestamp": "true",
	}
	if req.Verify {
		return attrs
	}
	attrs["name"] = req.Repository.Name()
	attrs["push"], attrs["push-by-digest"] = "true", "true"
	attrs["registry.insecure"] = strconv.FormatBool(req.Repository.Scheme() == "http")
	return attrs
}

// input is a target's checked local inputs.
type input struct {
	dockerfile string
	// src is the Dockerfile's content; bases the images it pulls, pinned.
	src              []byte
	bases            []base
	dockerfileSHA256 string
	// contextSHA256 is builders.TreeDigest of the context directory.
	contextSHA256 string
	contextFS     fsutil.FS
	dockerfileFS  fsutil.FS
	secrets       []secretsprovider.Source
}

// prepare checks everything that can be checked locally before buildkitd is
// asked to do anything: the context exists, the Dockerfile parses, the
// requested stage exists, and every secret has a source.
func prepare(req builders.Request) (input, error) {
	t := req.Target
	subject := fmt.Sprintf("target %q", t.Name)
	var in input
	ctxDir := abs(req.Dir, t.Context)
	if st, err := os.Stat(ctxDir); err != nil || !st.IsDir() {
		return in, failure.New(failure.Config, subject,
			fmt.Errorf("context directory %s does not exist", ctxDir),
			fmt.Sprintf("create it or fix targets.%s.context", t.Name))
	}
	in.dockerfile = filepath.Join(ctxDir, t.Dockerfile)
	if filepath.IsAbs(t.Dockerfile) {
		in.dockerfile = t.Dockerfile
	}
	src, err := os.ReadFile(in.dockerfile)
	if err != nil {
		return in, failure.New(failure.Config, subject, fmt.Errorf("reading Dockerfile: %w", err),
			fmt.Sprintf("create it or fix targets.%s.dockerfile (relative to the context)", t.Name))
	}
	in.src = src
	sum := sha256.Sum256(src)
	in.dockerfileSHA256 = hex.EncodeToString(sum[:])
	if err := checkDockerfile(src, t.Target); err != nil {
		return in, failure.New(failure.Build, subject, fmt.Errorf("%s: %w", in.dockerfile, err), "fix the Dockerfile")
	}
	if in.contextSHA256, err = builders.TreeDigest(ctxDir); err != nil {
		return in, failure.New(failure.Config, subject, err, fmt.Sprintf("make targets.%s.context readable", t.Name))
	}
	if in.contextFS, err = fsutil.NewFS(ctxDir); err != nil {
		return in, failure.New(failure.Config, subject, err, "")
	}
	if in.dockerfileFS, err = fsutil.NewFS(filepath.Dir(in.dockerfile)); err != nil {
		return in, failure.New(failure.Config, subject, err, "")
	}
	for _, s := range t.Secrets {
		src := secretsprovider.Source{ID: s.ID}
		if s.Env != "" {
			if _, ok := os.LookupEnv(s.Env); !ok {
				return in, failure.New(failure.Config, subject,
					fmt.Errorf("secret %q: environment variable %s is not set", s.ID, s.Env), "export it before building")
			}
			src.Env = s.Env
		} else {
			src.FilePath = abs(req.Dir, s.File)
			if _, err := os.Stat(src.FilePath); err != nil {
				return in, failure.New(failure.Config, subject, fmt.Errorf("secret %q: %w", s.ID, err), "fix the secret's file")
			}
		}
		in.secrets = append(in.secrets, src)
	}
	return in, nil
}

// checkDockerfile parses the Dockerfile as the frontend will, so syntax
// errors are reported with their line before a build starts.
func checkDockerfile(src []byte, stage string) error {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return err
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return err
	}
	if len(stages) == 0 {
		return errors.New("no FROM instruction")
	}
	if stage == "" {
		return nil
	}
	for _, s := range stages {
		if strings.EqualFold(s.Name, stage) {
			return nil
		}
	}
	return fmt.Errorf("no stage named %q", stage)
}

// frontendAttrs are the Dockerfile frontend's settings for req: no
// attestations of BuildKit's own in the image index (bakery attaches its
// signed provenance beside it, so the index holds only the image and two
// builds of the same inputs give the same digest); an index even for one
// platform; the times stamped from SOURCE_DATE_EPOCH; and each base image
// pinned to the digest bakery resolved.
func frontendAttrs(req builders.Request, filename string, bases []base) map[string]string {
	t := req.Target
	attrs := map[string]string{
		"filename":                    filename,
		"multi-platform":              "true",
		"build-arg:SOURCE_DATE_EPOCH": strconv.FormatInt(req.SourceDateEpoch, 10),
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	if t.Target != "" {
		attrs["target"] = t.Target
	}
	if len(t.Platforms) > 0 {
		attrs["platform"] = strings.Join(t.Platforms, ",")
	}
	for k, v := range req.Args() {
		attrs["build-arg:"+k] = v
	}
	for k, v := range t.Labels {
		attrs["label:"+k] = v
	}
	for _, b := range bases {
		key, kerr := b.contextKey()
		val, verr := b.pinned()
		if kerr == nil && verr == nil {
			attrs[key] = val
		}
	}
	return attrs
}

// baseClass is the class of a failure to resolve a base: its registry is
// down (failure.Unavailable), or the Dockerfile or the reference is wrong.
func baseClass(err error) failure.Class {
	if c := failure.ClassOf(err); c == failure.Unavailable {
		return c
	}
	return failure.Config
}

func cacheEntries(refs []string) []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, r := range refs {
		c, err := config.ParseCache(r) // validated on load
		if err != nil {
			continue
		}
		out = append(out, client.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	return out
}

// solveError classifies a failed solve: a registry that cannot be reached is
// failure.Unavailable, anything else is failure.Build. BuildKit's message
// (the failing step and its exit code) is kept, on one line; the progress
// printer prints the failing step's last log lines in every mode.
func solveError(subject string, err error) error {
	if errors.Is(err, context.Canceled) {
		return failure.New(failure.Internal, subject, errors.New("canceled"), "")
	}
	msg := failure.OneLine(err.Error())
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "connection reset"} {
		if strings.Contains(msg, s) {
			return failure.New(failure.Unavailable, subject, errors.New(msg), "check that the registries it pulls from and pushes to are up")
		}
	}
	return failure.New(failure.Build, subject, errors.New(msg), "the failing step's last log lines are above if it logged any; --progress plain shows the whole log")
}

func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
