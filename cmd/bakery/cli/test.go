package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/pipeline"
)

const testLong = `Run TARGET's test suites (its tests: in bakery.yaml, container-structure-test
files) against the digest ENV runs now, on every platform of it, inside the
exact digest on buildkitd, and record each result as a signed test-result
attestation of the digest bound to ENV (docs/testing.md). Without --env, the
first environment's digest is tested.

With --junit, nothing runs: the JUnit XML of an external suite (tests that
ran elsewhere, such as CI's smoke tests against staging) is recorded as the
result of --suite against ENV's digest, signed with the signing key.

A machine image (a packer target) is tested inside its packer build, by the
bakery-test provisioner, before it is sealed: for one, bakery test records
--junit results only.

The tested and tested_in policies read these results. Exit 0 when every
suite PASSED, 3 when one FAILED (its result is recorded all the same).`

const testExample = `  bakery test app --env staging
  bakery test app --suite structure -o json
  bakery test app --env staging --suite smoke --junit reports/smoke.xml`

// testOptions are bakery test's flags.
type testOptions struct {
	env      string
	suites   []string
	junit    string
	progress string
}

func newTest(ro *rootOptions) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:     "test TARGET [--env ENV] [--suite NAME]... [--junit FILE]",
		Short:   "Test the digest an environment runs and record signed test results",
		Long:    testLong,
		Example: testExample,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ro.runTest(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "the environment whose digest is tested (default: the first)")
	f.StringArrayVar(&o.suites, "suite", nil, "only this suite (repeatable; default: every suite with a file)")
	f.StringVar(&o.junit, "junit", "", "record this JUnit XML as the result of the one --suite (an external suite) instead of running anything")
	f.StringVar(&o.progress, "progress", "auto", "progress output: "+strings.Join(progress.Modes, ", "))
	config.AddBuilderFlag(f)
	return cmd
}

// testJSON is bakery test -o json: one entry per result recorded.
type testJSON struct {
	Target      string             `json:"target"`
	Environment string             `json:"environment"`
	Digest      string             `json:"digest"`
	Results     []imagetest.Result `json:"results"`
}

func (ro *rootOptions) runTest(cmd *cobra.Command, target string, o *testOptions) error {
	if err := ro.validate(); err != nil {
		return err
	}
	if o.junit != "" && len(o.suites) != 1 {
		return usageError("--junit records one suite: name it with --suite NAME")
	}
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	t, err := s.cfg.LookupTarget(target)
	if err != nil {
		return err
	}
	if o.junit == "" {
		if err := pipeline.Testable(t); err != nil {
			return err
		}
	}
	env := &s.cfg.Environments[0]
	if o.env != "" {
		if env, _, err = s.cfg.LookupEnvironment(o.env); err != nil {
			return err
		}
	}
	tag, err := env.Locate(t.Name)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	ref, err := attest.Resolve(ctx, tag.String())
	if err != nil {
		return failure.New(failure.ClassOf(err), fmt.Sprintf("target %q in %s", t.Name, env.Name), err, "build or promote it there first")
	}
	var results []imagetest.Result
	var runErr error
	if o.junit != "" {
		signer, err := s.signer(ctx)
		if err != nil {
			return err
		}
		var r imagetest.Result
		r, runErr = pipeline.RecordJUnit(ctx, t, ref, env.Name, o.suites[0], o.junit, signer)
		if r.Result != "" {
			results = append(results, r)
		}
	} else if results, runErr = runSuites(cmd, s, t, ref, env.Name, o); runErr != nil && results == nil {
		return runErr
	}
	if err := printTest(cmd, ro.output, testJSON{Target: t.Name, Environment: env.Name, Digest: ref.DigestStr(), Results: results}); err != nil {
		return err
	}
	return runErr
}

// runSuites runs t's suites on buildkitd, with progress on stderr, while
// the signing key is decrypted: a key that cannot be loaded stops the run
// at once, with its own error.
func runSuites(cmd *cobra.Command, s *site, t *config.Target, ref name.Digest, env string, o *testOptions) ([]imagetest.Result, error) {
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	signer := s.pendingSigner(ctx)
	go func() {
		if _, err := signer.Get(ctx); err != nil {
			cancel(err)
		}
	}()
	p, err := progress.NewPrinter(ctx, cmd.ErrOrStderr(), o.progress)
	if err != nil {
		return nil, failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	bk, err := buildkit.New(ctx, s.cfg.Builder, s.cfg.Dir, p)
	if err != nil {
		_ = p.Wait()
		return nil, err
	}
	defer bk.Close()
	results, err := pipeline.TestDigest(ctx, s.cfg, t, ref, pipeline.TestOptions{
		Runner: bk, Signer: signer, Environment: env, Suites: o.suites, Progress: p})
	_ = p.Wait()
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return nil, cause
	}
	return results, err
}

// printTest prints the results: a row per suite and platform, the failed
// tests named.
func printTest(cmd *cobra.Command, output string, out testJSON) error {
	w := cmd.OutOrStdout()
	if out.Results == nil {
		out.Results = []imagetest.Result{}
	}
	if output == "json" {
		return writeJSON(w, out)
	}
	tb := newTable("SUITE", "PLATFORM", "RESULT", "PASSED", "FAILED", "RUNNER")
	for _, r := range out.Results {
		platform := r.Bakery.Platform
		if platform == "" {
			platform = textNone
		}
		failed := strings.Join(r.FailedTests, ", ")
		if failed == "" {
			failed = textNone
		}
		runner := r.Bakery.Runner
		if runner == "" {
			runner = "registry" // file and metadata tests only: no node ran anything
		}
		tb.row(r.Bakery.Suite, platform, string(r.Result), strconv.Itoa(len(r.PassedTests)), failed, runner)
	}
	d := out.Digest
	if output != "wide" {
		d = short(d)
	}
	fmt.Fprintf(w, "%s in %s: %s\n", out.Target, out.Environment, d)
	return tb.write(w)
}
