// Command benchgc fills a registry prefix with bakery-shaped history for
// hack/bench-gc.sh, without buildkit: TARGETS targets (t01, t02, ...) of
// BUILDS builds each, every build a small random linux/amd64 image pushed
// to dev with bakery's own attestations (SPDX and CycloneDX SBOMs, SLSA
// provenance, the signature) and a signed build receipt, dev's tag moved to
// it; every second build promoted to staging and every fourth on to prod
// with the promote package, as it is built. It writes the bakery.yaml of
// that prefix (environments dev, staging, prod; the targets as containers
// with a dummy context; the given signing and verification keys; retention
// rollback_window 3, min_age "0") and then reads it back, so the history
// is made with exactly the config bakery gc will read.
//
//	benchgc -registry 127.0.0.1:5000 -prefix bench/gc-123 -key k.key -pub k.pub -out DIR
//
// With the defaults (20 x 10, window 3) each target keeps, by the rules:
// prod builds 4 and 8 (both in its window); staging 6, 8 and 10 (window)
// and 4 (prod keeps it), deleting build 2; dev 8, 9 and 10 (window) and 4
// and 6 (a later environment keeps them), deleting builds 1, 2, 3, 5 and 7.
// The images are random (new digests every run); the counts are not. The
// signing key's password comes from BAKERY_SIGNING_PASSWORD. REGISTRY is
// written into bakery.yaml as it is given, and receipts name the repository
// they were signed for: read the prefix by the same address (gc reads a
// receipt for another address as no receipt).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
)

const builderID = "https://github.com/bakeryhq/bakery/bench"

type gen struct {
	cfg      *config.Config
	signer   signature.SignerVerifier
	attester attest.Attester
	promoter *promote.Promoter
	size     int64
	// counts of what was written
	builds, promotions atomic.Int64
}

func main() {
	reg := flag.String("registry", "127.0.0.1:5000", "registry to fill (host:port)")
	prefix := flag.String("prefix", "", "repository prefix; environment E of target T is REGISTRY/PREFIX/E/T")
	key := flag.String("key", "", "cosign private key that signs (password in BAKERY_SIGNING_PASSWORD)")
	pub := flag.String("pub", "", "its public key, the one verification trusts")
	out := flag.String("out", "", "directory for bakery.yaml and the targets' dummy contexts")
	targets := flag.Int("targets", 20, "targets")
	builds := flag.Int("builds", 10, "builds per target")
	window := flag.Int("window", 3, "retention.rollback_window written to bakery.yaml")
	parallel := flag.Int("parallel", 3, "targets generated at once")
	size := flag.Int64("size", 1024, "bytes of the one random layer of each image")
	flag.Parse()
	if *prefix == "" || *key == "" || *pub == "" || *out == "" {
		log.Fatal("-prefix, -key, -pub and -out are required")
	}
	start := time.Now()
	file, err := writeConfig(*out, *reg, *prefix, *key, *pub, *targets, *window)
	if err != nil {
		log.Fatal(err)
	}
	g, err := newGen(file, *size)
	if err != nil {
		log.Fatal(err)
	}
	ctx := g.cfg.Context(context.Background())
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(*parallel)
	for _, t := range g.cfg.TargetNames() {
		eg.Go(func() error { return g.target(ectx, t, *builds) })
	}
	if err := eg.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d targets, %d builds, %d promotions in %s; config %s\n",
		len(g.cfg.Targets), g.builds.Load(), g.promotions.Load(), time.Since(start).Round(time.Millisecond), file)
}

// writeConfig writes DIR/bakery.yaml and a dummy context per target.
func writeConfig(dir, reg, prefix, key, pub string, targets, window int) (string, error) {
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for i := 1; i <= targets; i++ {
		t := fmt.Sprintf("t%02d", i)
		fmt.Fprintf(&b, "  %s:\n    type: container\n    context: ctx/%s\n", t, t)
		ctx := filepath.Join(dir, "ctx", t)
		if err := os.MkdirAll(ctx, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(&b, "signing:\n  key: %s\n  builder_id: %s\n", key, builderID)
	fmt.Fprintf(&b, "verification:\n  keys: [%s]\n", pub)
	fmt.Fprintf(&b, "retention:\n  rollback_window: %d\n  min_age: \"0\"\n", window)
	b.WriteString("environments:\n")
	for _, e := range []string{"dev", "staging", "prod"} {
		fmt.Fprintf(&b, "  - name: %s\n    repository: %s/%s/%s\n    insecure: true\n", e, reg, prefix, e)
	}
	file := filepath.Join(dir, "bakery.yaml")
	return file, os.WriteFile(file, []byte(b.String()), 0o644)
}

func newGen(file string, size int64) (*gen, error) {
	cfg, err := config.Load(config.Options{File: file})
	if err != nil {
		return nil, err
	}
	ctx := cfg.Context(context.Background())
	signer, err := attest.SignerFor(ctx, cfg.Signing, config.SigningPassword())
	if err != nil {
		return nil, err
	}
	verifier, err := attest.NewVerifier(ctx, attest.FromConfig, cfg.Verification.Keys)
	if err != nil {
		return nil, err
	}
	engine, err := policies.Compile(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &gen{cfg: cfg, signer: signer, size: size,
		attester: attest.New(attest.Options{Signer: signer, BuilderID: builderID, Version: "benchgc"}),
		promoter: promote.New(promote.Options{Config: cfg, Verifier: verifier, Signer: attest.ReadySigner(signer), Policies: engine, Version: "benchgc"}),
	}, nil
}

// target builds target n times into dev, promoting build i to staging
// when i is even and on to prod when i is a multiple of four.
func (g *gen) target(ctx context.Context, target string, n int) error {
	dev, err := g.cfg.Environments[0].Locate(target)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		d, err := g.build(ctx, dev, target)
		if err != nil {
			return fmt.Errorf("%s build %d: %w", target, i, err)
		}
		for _, step := range [][2]string{{"staging", "dev"}, {"prod", "staging"}} {
			if (step[0] == "staging" && i%2 != 0) || (step[0] == "prod" && i%4 != 0) {
				continue
			}
			if _, err := g.promoter.Promote(ctx, promote.Request{Target: target, To: step[0], From: step[1], Digest: d, Reason: "benchgc"}); err != nil {
				return fmt.Errorf("%s build %d to %s: %w", target, i, step[0], err)
			}
			g.promotions.Add(1)
		}
	}
	return nil
}

// build pushes a random image to dev as bakery build leaves it: the image,
// its SBOMs, provenance and signature, a build receipt, dev's tag.
func (g *gen) build(ctx context.Context, tag name.Tag, target string) (string, error) {
	img, err := random.Image(g.size, 1)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	h, err := img.Digest()
	if err != nil {
		return "", err
	}
	ref := tag.Context().Digest(h.String())
	if err := remote.Write(ref, img, registry.Options(ctx)...); err != nil {
		return "", err
	}
	now := time.Now()
	res := builders.Result{Target: target, Kind: builders.Container, Repository: ref.Context().String(), Digest: h, Platforms: []string{"linux/amd64"},
		Invocation: &builders.Invocation{StartedOn: now, FinishedOn: now}}
	if _, err := g.attester.Attest(ctx, ref, res); err != nil {
		return "", err
	}
	if err := receipt.SignBuild(ctx, g.signer, ref, target, "dev", "benchgc"); err != nil {
		return "", err
	}
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		return "", err
	}
	if err := remote.Tag(tag, desc, registry.Options(ctx)...); err != nil {
		return "", err
	}
	g.builds.Add(1)
	return h.String(), nil
}
