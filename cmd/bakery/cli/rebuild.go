package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/pipeline"
)

const rebuildLong = `Build IMAGE's target again from what IMAGE's verified provenance records, and
say whether the same digest comes out: the target's settings and args, each
base image pinned to its recorded digest, and the recorded SOURCE_DATE_EPOCH.
The Dockerfile and the context directory come from this checkout and must
have the recorded digests (otherwise the differences are listed: check out
the recorded commit first). Nothing is pushed, tagged or signed.

By default buildkitd's cache is used, so the check is that the recorded
inputs give this digest; --no-cache runs every step again, which also checks
that the Dockerfile's steps are deterministic.

Exit 0 when the digest is reproduced, 4 when it is not (or an input differs).`

const rebuildExample = `  bakery rebuild --verify 127.0.0.1:5000/prod/app@sha256:…
  bakery rebuild --verify 127.0.0.1:5000/prod/app:prod --no-cache -o json`

func newRebuild(ro *rootOptions) *cobra.Command {
	var verify, noCache bool
	var prog string
	cmd := &cobra.Command{
		Use:     "rebuild --verify IMAGE",
		Short:   "Build a digest again from its provenance and check that the same digest comes out",
		Long:    rebuildLong,
		Example: rebuildExample,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !verify {
				return usageError("rebuild needs --verify (to build and publish, use bakery build)")
			}
			return ro.runRebuild(cmd, args[0], noCache, prog)
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "rebuild without pushing and compare the digest (required)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "run every build step again instead of using buildkitd's cache")
	cmd.Flags().StringVar(&prog, "progress", "auto", "progress output: "+strings.Join(progress.Modes, ", "))
	config.AddBuilderFlag(cmd.Flags())
	addKeyFlag(cmd, ro)
	return cmd
}

func (ro *rootOptions) runRebuild(cmd *cobra.Command, image string, noCache bool, prog string) error {
	if err := ro.validate(); err != nil {
		return err
	}
	g, err := ro.gate(cmd)
	if err != nil {
		return err
	}
	ref, err := attest.Resolve(cmd.Context(), image)
	if err != nil {
		return err
	}
	p, err := progress.NewPrinter(cmd.Context(), cmd.ErrOrStderr(), prog)
	if err != nil {
		return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	bk, err := buildkit.New(cmd.Context(), g.cfg.Builder, g.cfg.Dir, p)
	if err != nil {
		_ = p.Wait()
		return err
	}
	defer bk.Close()
	rep, rerr := pipeline.Reproduce(cmd.Context(), g.cfg, bk, ref, g.verifier, noCache)
	_ = p.Wait()
	if rerr != nil {
		return rerr
	}
	if ro.output == "json" {
		err = writeJSON(cmd.OutOrStdout(), rep)
	} else {
		printReproduction(cmd, rep)
	}
	if err != nil {
		return err
	}
	return reproductionError(ref.String(), rep)
}

func printReproduction(cmd *cobra.Command, r pipeline.Reproduction) {
	w := cmd.OutOrStdout()
	cache := "with buildkitd's cache"
	if r.NoCache {
		cache = "without the cache"
	}
	switch {
	case len(r.Differences) > 0:
		fmt.Fprintf(w, "NOT REBUILT %s (target %s): this checkout's inputs are not the recorded ones\n", r.Digest, r.Target)
		for _, d := range r.Differences {
			fmt.Fprintf(w, "  - %s\n", d)
		}
	case r.Reproduced:
		fmt.Fprintf(w, "REPRODUCED %s (target %s), %s, SOURCE_DATE_EPOCH=%d\n", r.Digest, r.Target, cache, r.SourceDateEpoch)
	default:
		fmt.Fprintf(w, "DIFFERS %s (target %s): the recorded inputs now give %s, %s, SOURCE_DATE_EPOCH=%d\n",
			r.Digest, r.Target, r.Rebuilt, cache, r.SourceDateEpoch)
	}
	for _, b := range r.Bases {
		fmt.Fprintf(w, "  base %s sha256:%s\n", b.URI, b.Digest["sha256"])
	}
}

// reproductionError is exit 4 for a digest that was not reproduced.
func reproductionError(subject string, r pipeline.Reproduction) error {
	switch {
	case len(r.Differences) > 0:
		return failure.New(failure.Verify, subject, fmt.Errorf("not rebuilt: %s", r.Differences[0]), "check out the recorded source and run it again")
	case !r.Reproduced:
		return failure.New(failure.Verify, subject, fmt.Errorf("the recorded inputs give %s, not this digest", r.Rebuilt),
			"a build step is not deterministic (it writes the time, random data or downloads), or buildkitd's version differs")
	}
	return nil
}
