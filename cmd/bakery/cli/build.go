package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/inventory"
	"github.com/bakeryhq/bakery/packer"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/revoke"
	"github.com/bakeryhq/bakery/vuln"
)

type buildOptions struct {
	*rootOptions
	progress     string
	metadataFile string
	noAttest     bool
	ifOutdated   bool
	failFast     bool
	// allowRevokedBase is the reason to build on a revoked base anyway.
	allowRevokedBase string
	ci               ciReport
}

// buildOutput is what --output json prints and --metadata-file writes: an
// entry per target, a builtJSON or, for a target that failed, a
// failureJSON (error, class, exit code), whatever the number of targets.
type buildOutput struct {
	Targets []any `json:"targets"`
}

// builtJSON is a built target with the test evidence its digest holds
// (promote.ReadTests: what its suites recorded, verified), when it has
// suites.
type builtJSON struct {
	pipeline.Built
	Tests []promote.TestEvidence `json:"tests,omitempty"`
}

// buildJSON is a build's output: the targets built, then an entry per
// target each failure names.
func buildJSON(results []pipeline.Built, tests map[string][]promote.TestEvidence, buildErr error) buildOutput {
	out := buildOutput{Targets: []any{}}
	for _, r := range results {
		out.Targets = append(out.Targets, builtJSON{Built: r, Tests: tests[r.Target]})
	}
	for _, f := range failureEntries(buildErr) {
		out.Targets = append(out.Targets, f)
	}
	return out
}

func newBuild(ro *rootOptions) *cobra.Command {
	o := &buildOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "build [TARGET...]",
		Short: "Bake targets and push them by digest to the first environment",
		Long: `Bake the named targets (all targets when none is named) and push each result
by digest to the first environment's repository. Container targets build on
buildkitd with the built-in Dockerfile frontend; independent targets build
concurrently, at most builder.max_parallel at a time. Only after a target's
digest is in the registry does the first environment's tag move to it.

By default every result is attested before its tag moves: an SBOM of each
platform (SPDX and CycloneDX, made with syft from the pushed digest), SLSA v1
provenance, and a cosign signature of the digest and of each attestation,
made with signing.key and stored in the registry. --no-attest skips all of
that, for local experiments: such images fail bakery verify and promote.

A target whose build arg names another target, as BASE: target:golden-base
does, is built on it: it starts once that target is published (or, when that
target is not in this run, on the digest its first environment holds), and
fails unbuilt if that target fails. The base is pinned by digest and the
provenance records it. A build arg that spells out another target's
repository by hand is a warning.

Builds are reproducible: BuildKit adds nothing of its own to the image index
(bakery's signed provenance is attached beside it), each base image is
resolved once and pinned by digest, and the image's times come from
SOURCE_DATE_EPOCH (default 0). A build that makes the digest the first
environment already runs, signed and attested, says "unchanged" and moves
nothing. bakery rebuild --verify DIGEST checks a digest the same way.

--if-outdated bakes only the targets whose first-environment digest is stale:
none is there or it does not verify, it is revoked, a base image its
provenance records has moved, or its inputs changed since (Dockerfile,
context directory content, args and settings; packer template, variables and
source rootfs file); and the targets built on one of those. It prints why.

` + countsHelp,
		Example: `  # bake every target of ./bakery.yaml
  bakery build

  # bake one target against a given buildkitd, plain progress, JSON result
  bakery build web --builder unix:///run/buildkit/buildkitd.sock --progress plain -o json

  # keep the result for the next pipeline step
  bakery build --metadata-file build.json && jq -r '.targets[0].digest' build.json

  # nightly: rebuild only what is stale (a base moved, an input changed, revoked)
  bakery build --if-outdated && bakery promote`,
		RunE: o.run,
	}
	cmd.Flags().StringVar(&o.progress, "progress", "auto", "progress output: "+strings.Join(progress.Modes, ", "))
	cmd.Flags().StringVar(&o.metadataFile, "metadata-file", "", "write the build result as JSON to this file")
	cmd.Flags().BoolVar(&o.failFast, "fail-fast", false, "stop at the first target that fails (default: build every target that can be, exit with the worst failure's code)")
	cmd.Flags().BoolVar(&o.ifOutdated, "if-outdated", false, "build only targets whose dev digest is stale: base moved, inputs changed, revoked, or none")
	cmd.Flags().BoolVar(&o.noAttest, "no-attest", false, "skip SBOMs, provenance and signatures (local experiments only; verify and promote reject such images)")
	cmd.Flags().StringVar(&o.allowRevokedBase, "allow-revoked-base", "", "build even on a revoked base image, for this REASON (recorded in the provenance; promotions still refuse it)")
	o.ci.addFlags(cmd)
	config.AddFlags(cmd.Flags())
	addActorFlag(cmd, o.rootOptions)
	return cmd
}

// guard is the revoked-base check of a build: the environments' revocation
// lists, verified with verification.keys (read when the first base is
// checked), applied to each base's lineage.
func (o *buildOptions) guard(s *site) *pipeline.BaseGuard {
	if o.noAttest {
		return nil
	}
	return &pipeline.BaseGuard{Allow: o.allowRevokedBase, Load: func(ctx context.Context) (*revoke.Lineage, error) {
		verifier, err := s.trust(ctx)
		if err != nil {
			return nil, err
		}
		return revoke.LoadLineage(ctx, s.cfg, verifier)
	}}
}

// published tells whether a digest verifies with verification.keys
// (signature, SBOMs and provenance), for a build that made it again.
func published(s *site) func(context.Context, name.Digest) bool {
	return func(ctx context.Context, ref name.Digest) bool {
		verifier, err := s.trust(ctx)
		if err != nil {
			return false
		}
		_, err = verifier.Verify(ctx, ref)
		return err == nil
	}
}

// run is bakery build.
func (o *buildOptions) run(cmd *cobra.Command, args []string) error {
	if err := o.validate(); err != nil {
		return err
	}
	cfg, err := o.load(cmd)
	if err != nil {
		return err
	}
	p, err := progress.NewPrinter(cmd.Context(), cmd.ErrOrStderr(), o.progress)
	if err != nil {
		return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	s := o.newSite(cfg)
	if o.ifOutdated {
		if args, err = o.outdatedOnly(cmd, s, args); err != nil || len(args) == 0 {
			_ = p.Wait()
			if err == nil {
				err = o.print(cmd, nil, nil, nil)
			}
			return err
		}
	}
	if o.noAttest {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: --no-attest: the images built now get NO SBOM, NO provenance and NO signature; bakery verify and promote will reject them")
	}
	for _, w := range pipeline.HardCodedBases(cfg) {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: "+w)
	}
	epoch, err := env.Epoch()
	if err != nil {
		_ = p.Wait()
		return failure.New(failure.Config, env.SourceDateEpoch.String(), err, "unset it, or set it to a number of seconds such as $(git log -1 --format=%ct)")
	}
	bs, closeBuilders, err := newBuilders(cmd.Context(), cfg, args, p, o.noAttest, cmd.ErrOrStderr())
	if err != nil {
		_ = p.Wait()
		return err
	}
	defer closeBuilders()
	vulns, closeDB, err := o.vulnScans(cmd, s)
	if err != nil {
		_ = p.Wait()
		return err
	}
	defer closeDB()
	results, buildErr := pipeline.Build(cmd.Context(), cfg, args, pipeline.BuildOptions{
		Builders: bs, Progress: p, NoAttest: o.noAttest, Version: o.version, FailFast: o.failFast,
		Guard: o.guard(s), SourceDateEpoch: epoch, Current: published(s), Vulns: vulns,
	})
	if err := p.Wait(); err != nil && buildErr == nil {
		buildErr = err
	}
	tests := o.testsOf(cmd, s, results)
	if err := o.print(cmd, results, tests, buildErr); err != nil {
		return err
	}
	if err := o.ci.write("bakery build", buildLines(results, tests, buildErr)); err != nil {
		return err
	}
	return buildErr
}

// vulnScans is how build scans each published digest: with the database
// vulnerabilities.db names (a database that does not open is a config
// error, before anything is built; one older than max_db_age a warning),
// verified with verification.keys; nil when none is configured or with
// --no-attest.
func (o *buildOptions) vulnScans(cmd *cobra.Command, s *site) (*pipeline.ScanOptions, func(), error) {
	if o.noAttest || s.cfg.Vulnerabilities.DB == "" {
		return nil, func() {}, nil
	}
	db, err := vuln.Configured(s.cfg)
	if err != nil {
		return nil, nil, err
	}
	if w := pipeline.StaleDBWarning(db, s.cfg, time.Now()); w != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), w)
	}
	verifier, err := s.trust(cmd.Context())
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	sup := vuln.NewSuppressions(cmd.Context(), s.cfg, verifier.Keys())
	for _, i := range sup.Ignored {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: ignored VEX %s: %s\n", i.Source, i.Reason)
	}
	return &pipeline.ScanOptions{DB: db, Verifier: verifier, Suppressions: sup}, func() { db.Close() }, nil
}

// outdatedOnly is the targets among names that --if-outdated rebuilds; it
// prints each target's verdict on stderr.
func (o *buildOptions) outdatedOnly(cmd *cobra.Command, s *site, names []string) ([]string, error) {
	cfg := s.cfg
	targets, err := pipeline.Select(cfg, names)
	if err != nil {
		return nil, err
	}
	bases, err := pipeline.Bases(cfg, targets)
	if err != nil {
		return nil, err
	}
	ctx := o.bound(cmd, cfg)
	verifier, err := s.trust(ctx)
	if err != nil {
		return nil, err
	}
	verdicts, err := inventory.Rebuilds(ctx, cfg, verifier, targets, bases, time.Now())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range verdicts {
		if !v.Outdated() {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: up to date (%s runs %s)\n", v.Target, cfg.Environments[0].Name, v.Digest)
			continue
		}
		out = append(out, v.Target)
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: rebuilding: %s\n", v.Target, strings.Join(v.Reasons, "; "))
	}
	if len(out) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "every target is up to date: nothing to build")
	}
	return out, nil
}

// testsOf reads back the test evidence of each built target that has
// suites (promote.ReadTests, verified with verification.keys), for build's
// outputs; one that cannot be read is warned about and shows none.
func (o *buildOptions) testsOf(cmd *cobra.Command, s *site, results []pipeline.Built) map[string][]promote.TestEvidence {
	out := map[string][]promote.TestEvidence{}
	if o.noAttest {
		return out
	}
	for _, r := range results {
		if len(promote.Suites(s.cfg, r.Target)) == 0 {
			continue
		}
		ref, err := name.NewDigest(r.Reference())
		if err == nil {
			var verifier *attest.Verifier
			if verifier, err = s.trust(cmd.Context()); err == nil {
				out[r.Target], err = promote.ReadTests(cmd.Context(), verifier, ref, r.Target)
			}
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: its test results could not be read back: %v\n", r.Target, err)
		}
	}
	return out
}

// buildLines is what a build tells CI: each built target with a line per
// test result that counts (testLines), then each failure.
func buildLines(results []pipeline.Built, tests map[string][]promote.TestEvidence, buildErr error) []ciLine {
	var lines []ciLine
	for _, r := range results {
		signed, outcome := "unsigned", "built"
		if a := r.Attestation; a != nil {
			signed = "signed by " + a.KeyID
		}
		if r.Unchanged {
			signed, outcome = "unchanged: already published", "unchanged"
		}
		if v := r.Vulnerabilities; v != nil {
			signed += "; vulnerabilities: " + v.Summary
		}
		lines = append(lines, ciLine{Target: r.Target, Outcome: outcome,
			Detail: fmt.Sprintf("%s (%s; %s)", r.Reference(), strings.Join(r.Platforms, ", "), signed)})
		lines = append(lines, testLines(r.Target, tests[r.Target])...)
	}
	return append(lines, failedTargets(buildErr)...)
}

// newBuilders constructs the Builder of each target type that the named
// targets need: BuildKit for containers (connected now, so that a daemon that
// is down fails before anything builds), Packer for machine images.
func newBuilders(ctx context.Context, cfg *config.Config, names []string, p progress.Streamer, noAttest bool, warn io.Writer) (map[string]builders.Builder, func(), error) {
	targets, err := pipeline.Select(cfg, names)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]builders.Builder{}
	closeAll := func() {}
	if pipeline.Needs(targets, config.TypeContainer) {
		bk, err := buildkit.New(ctx, cfg.Builder, cfg.Dir, p)
		if err != nil {
			return nil, nil, failure.New(failure.ClassOf(err), pipeline.Subject(targets...), err, "")
		}
		out[config.TypeContainer], closeAll = bk, func() { bk.Close() }
		for _, down := range bk.Down() {
			fmt.Fprintln(warn, "WARNING: "+down)
		}
	}
	if pipeline.Needs(targets, config.TypePacker) {
		pk, err := packer.New(cfg, p)
		if err != nil {
			closeAll()
			return nil, nil, failure.New(failure.ClassOf(err), pipeline.Subject(targets...), err, "")
		}
		pk.NoAttest = noAttest
		out[config.TypePacker] = pk
	}
	return out, closeAll, nil
}

func (o *buildOptions) validate() error {
	if err := o.rootOptions.validate(); err != nil {
		return err
	}
	if !slices.Contains(progress.Modes, o.progress) {
		return usageError("--progress %q: use one of %s", o.progress, strings.Join(progress.Modes, ", "))
	}
	return nil
}

func (o *buildOptions) print(cmd *cobra.Command, results []pipeline.Built, tests map[string][]promote.TestEvidence, buildErr error) error {
	out := buildJSON(results, tests, buildErr)
	if o.metadataFile != "" {
		f, err := os.Create(o.metadataFile)
		if err != nil {
			return failure.New(failure.Config, "--metadata-file", err, "")
		}
		err = writeJSON(f, out)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return failure.New(failure.Internal, o.metadataFile, err, "")
		}
	}
	if o.output == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	s := o.style(cmd.OutOrStdout())
	for _, r := range results {
		signed := s.alert("UNSIGNED")
		if a := r.Attestation; a != nil {
			types := make([]string, len(a.Attestations))
			for i, at := range a.Attestations {
				types[i] = at.PredicateType
			}
			signed = fmt.Sprintf("signed by %s, %s", a.KeyID, plural(countAttestations(types), "attestation"))
		}
		if r.Unchanged {
			signed = "unchanged: the same digest as before, already signed and attested; nothing moved"
		}
		if ev := tests[r.Target]; len(ev) > 0 {
			signed += ", " + plural(len(ev), "test result") + " (" + testsCell(s, ev, nil) + ")"
		}
		if v := r.Vulnerabilities; v != nil {
			signed += ", vulnerabilities: " + v.Summary
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\ttags: %s\t%s\n", r.Target, s.ref(r.Reference()),
			strings.Join(r.Platforms, ","), humanSize(r.Size), strings.Join(r.Tags, ","), signed)
	}
	return w.Flush()
}
