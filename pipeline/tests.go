package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/internal/registry"
)

// ImageRunner runs an image's exact digest in fresh containers on the
// builder that made it: buildkit.Builder.Test.
type ImageRunner interface {
	Test(ctx context.Context, image, platform, user, cwd string, fn func(context.Context, imagetest.Runner) error) (string, error)
}

// TestOptions configures TestDigest.
type TestOptions struct {
	// Runner starts the containers.
	Runner ImageRunner
	// Signer signs each result into an attestation of the digest; nil
	// records nothing (the results are only returned). It is waited for
	// only once the suites have run, so a key still being decrypted costs
	// no time.
	Signer *attest.PendingSigner
	// Environment is the environment whose digest is tested; "" for the
	// run of bakery build, before the first environment moves.
	Environment string
	// Suites are the suite names to run; empty runs every suite with a file.
	Suites   []string
	Progress progress.Streamer
}

// TestDigest runs target t's suites against ref on every platform of it, and
// records each (suite, platform) result as a signed in-toto test-result
// attestation of ref (subjects: ref and the platform's image), FAILED ones
// included. A suite that FAILED makes the error a build failure naming the
// failed tests, returned after the results are recorded; an error that
// stopped a suite from running at all records nothing for it.
func TestDigest(ctx context.Context, cfg *config.Config, t *config.Target, ref name.Digest, opts TestOptions) ([]imagetest.Result, error) {
	subj := "target " + strconv.Quote(t.Name)
	if err := Testable(t); err != nil {
		return nil, err
	}
	suites, err := LoadSuites(cfg, t, opts.Suites)
	if err != nil || len(suites) == 0 {
		return nil, err
	}
	plats, err := attest.Platforms(ctx, ref)
	if err != nil {
		return nil, err
	}
	done := progress.Step(opts.Progress, t.Name, fmt.Sprintf("test: %d suite(s) on %d platform(s)", len(suites), len(plats)))
	var results []imagetest.Result
	var stmts []attest.Statement
	for _, p := range plats {
		rs, err := testPlatform(ctx, suites, p, opts.Runner)
		if err != nil {
			done(err)
			return nil, failure.New(failure.ClassOf(err), subj, err, "")
		}
		for _, r := range rs {
			r.Bakery.Target, r.Bakery.Environment = t.Name, opts.Environment
			st, err := testStatement(ref, p, r)
			if err != nil {
				done(err)
				return nil, err
			}
			results, stmts = append(results, r), append(stmts, st)
		}
	}
	var signer signature.SignerVerifier
	if opts.Signer != nil {
		if signer, err = opts.Signer.Get(ctx); err != nil {
			done(err)
			return nil, err
		}
	}
	err = record(ctx, signer, subj, ref, stmts, results, "fix the image or the suite; the FAILED result is recorded against the digest")
	done(err)
	return results, err
}

// RecordResults records results of t's suites that ran elsewhere than
// bakery's builder (inside a machine image's build, by the bakery-test
// provisioner) against ref in env ("" for the build's run): each one, its
// target, environment and platform set, a signed in-toto test-result
// attestation of ref alone (a machine-image record has no platform images),
// as TestDigest records its own; nil signer records nothing. A FAILED result
// is recorded and then returned as a build failure naming the failed tests.
func RecordResults(ctx context.Context, signer signature.SignerVerifier, t *config.Target, ref name.Digest, env, platform string, results []imagetest.Result) error {
	stmts := make([]attest.Statement, 0, len(results))
	for i := range results {
		r := &results[i]
		r.Bakery.Target, r.Bakery.Environment, r.Bakery.Platform = t.Name, env, platform
		st, err := testStatement(ref, attest.Platform{Ref: ref, Platform: platform}, *r)
		if err != nil {
			return err
		}
		stmts = append(stmts, st)
	}
	return record(ctx, signer, "target "+strconv.Quote(t.Name), ref, stmts, results, "fix the image or the suite; the FAILED result is recorded against the digest")
}

// record attaches stmts to ref, signed with signer (nil: nothing is
// recorded), then returns a build failure about subj naming each suite of
// results that FAILED, with hint.
func record(ctx context.Context, signer signature.SignerVerifier, subj string, ref name.Digest, stmts []attest.Statement, results []imagetest.Result, hint string) error {
	if signer != nil {
		if err := attest.Attach(ctx, signer, ref, stmts); err != nil {
			return failure.New(failure.ClassOf(err), subj, err, "")
		}
	}
	if err := failedSuites(results); err != nil {
		return failure.New(failure.Build, subj, err, hint)
	}
	return nil
}

// Testable is nil when bakery can run t's suites against a digest on its
// builder: a container target. A machine image's suites run inside its
// packer build (the bakery-test provisioner), before it is sealed; bakery
// does not boot machine images to test them again.
func Testable(t *config.Target) error {
	if t.Type != config.TypePacker {
		return nil
	}
	return failure.New(failure.Config, "target "+strconv.Quote(t.Name), errors.New("a machine image's suites run inside its packer build, not against a digest"),
		fmt.Sprintf("run bakery build %s to test a new machine image; record tests that ran elsewhere with --suite NAME --junit FILE", t.Name))
}

// RecordJUnit records the outcome of suite, an external suite of t that ran
// elsewhere against ref in env (CI's smoke tests against staging), from the
// JUnit XML at file: one signed test-result attestation of ref, about the
// whole image (no platform). A FAILED result is recorded and then returned
// as a build failure naming the failed tests, as a suite bakery runs is.
func RecordJUnit(ctx context.Context, t *config.Target, ref name.Digest, env, suite, file string, signer signature.SignerVerifier) (imagetest.Result, error) {
	subj := "suite " + strconv.Quote(suite)
	s, ok := t.Suite(suite)
	if !ok || !s.External {
		return imagetest.Result{}, failure.New(failure.Config, subj, fmt.Errorf("target %q has no external suite of that name", t.Name),
			"add it to the target's tests: with external: true (bakery runs the suites with a file itself)")
	}
	f, err := os.Open(file)
	if err != nil {
		return imagetest.Result{}, failure.New(failure.Config, "--junit "+file, err, "pass the JUnit XML the test run wrote")
	}
	defer f.Close()
	res, err := imagetest.ParseJUnit(f, suite)
	if err != nil {
		return imagetest.Result{}, err
	}
	res.Bakery.Target, res.Bakery.Environment = t.Name, env
	st, err := testStatement(ref, attest.Platform{Ref: ref}, res)
	if err != nil {
		return res, err
	}
	return res, record(ctx, signer, subj, ref, []attest.Statement{st}, []imagetest.Result{res}, "the FAILED result is recorded against the digest: fix what failed and record a new run")
}

// LoadSuites reads t's suites that bakery runs (those named, when names is
// not empty); naming an external or unknown suite is a config error.
func LoadSuites(cfg *config.Config, t *config.Target, names []string) ([]*imagetest.Suite, error) {
	for _, n := range names {
		s, ok := t.Suite(n)
		switch {
		case !ok:
			return nil, failure.New(failure.Config, "suite "+strconv.Quote(n), fmt.Errorf("target %q has no such suite", t.Name), "name one of its tests:")
		case s.External:
			return nil, failure.New(failure.Config, "suite "+strconv.Quote(n), errors.New("it is external: bakery does not run it"), "record its results with bakery test --junit FILE")
		}
	}
	var out []*imagetest.Suite
	for _, s := range t.RunnableTests() {
		if len(names) > 0 && !slices.Contains(names, s.Name) {
			continue
		}
		suite, err := imagetest.Load(cfg.Path(s.File))
		if err != nil {
			return nil, err
		}
		suite.Name = s.Name
		out = append(out, suite)
	}
	return out, nil
}

// testPlatform runs every suite against platform p's image in one session on
// one node, the image's own user and working directory applied.
func testPlatform(ctx context.Context, suites []*imagetest.Suite, p attest.Platform, runner ImageRunner) ([]imagetest.Result, error) {
	img, err := remote.Image(p.Ref, registry.Options(ctx)...)
	if err != nil {
		return nil, registry.Classify(p.Ref.String(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, registry.Classify(p.Ref.String(), err)
	}
	var out []imagetest.Result
	if !slices.ContainsFunc(suites, func(s *imagetest.Suite) bool { return len(s.CommandTests) > 0 }) {
		// Only file and metadata tests: they read the image from the
		// registry, so no node needs to run (or emulate) the platform.
		for _, s := range suites {
			res, err := imagetest.Run(ctx, s, img, nil)
			if err != nil {
				return nil, err
			}
			res.Bakery.Platform = p.Platform
			out = append(out, res)
		}
		return out, nil
	}
	if runner == nil {
		return nil, failure.New(failure.Config, p.Ref.String(), errors.New("no builder runs containers for this target"), "test container targets on a buildkitd")
	}
	node, err := runner.Test(ctx, p.Ref.String(), p.Platform, cf.Config.User, cf.Config.WorkingDir, func(ctx context.Context, r imagetest.Runner) error {
		for _, s := range suites {
			res, err := imagetest.Run(ctx, s, img, r)
			if err != nil {
				return err
			}
			out = append(out, res)
		}
		return nil
	})
	for i := range out {
		out[i].Bakery.Runner, out[i].Bakery.Platform = node, p.Platform
	}
	return out, err
}

// testStatement is r as an in-toto statement about ref and p's image.
func testStatement(ref name.Digest, p attest.Platform, r imagetest.Result) (attest.Statement, error) {
	pred, err := json.Marshal(r)
	if err != nil {
		return attest.Statement{}, err
	}
	subjects := []attest.Subject{attest.SubjectOf(ref)}
	if p.Ref != ref {
		subjects = append(subjects, attest.SubjectOf(p.Ref))
	}
	return attest.Statement{PredicateType: imagetest.PredicateType, Subjects: subjects, Predicate: pred, Platform: p.Platform}, nil
}

// failedSuites is an error naming each suite that FAILED and why, or nil.
func failedSuites(results []imagetest.Result) error {
	var lines []string
	for _, r := range results {
		if r.Result == imagetest.Failed {
			line := r.Summary()
			if r.Bakery.Platform != "" {
				line += " on " + r.Bakery.Platform
			}
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New(strings.Join(lines, "; "))
}
