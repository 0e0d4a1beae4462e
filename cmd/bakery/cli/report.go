package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/report"
)

func newReport(ro *rootOptions) *cobra.Command {
	var out string
	var sel selection
	parallel := report.DefaultParallel
	cmd := &cobra.Command{
		Use:   "report [TARGET...] [--env ENV]... --out DIR",
		Short: "Write a static, self-contained HTML report (and report.json) of what runs where, from verified data",
		Long: `Read, from the registry alone, what every environment runs for every target
(or the TARGETs named, in the environments --env names), verify it, and write
into DIR:

  index.html    a matrix of targets × environments: each cell's digest, kind,
                age, signer, receipt, verification, revoked and drift state
                and AMIs, and a timeline of promotions per environment;
  digest-*.html a page per digest: platforms and size; provenance (source,
                commit, builder, base images by digest, build arguments,
                secrets by id only); signatures and attestations with key id,
                time and verdict; the receipt chain with the policies that
                allowed each step; the SBOM of each platform as a sortable,
                filterable table with a license summary; the SBOM delta
                against the digest the environment ran before; its known
                vulnerabilities (the verified scan that counts per platform,
                judged by signed VEX and bakery.yaml's waivers) as a table
                sortable by column and filterable by severity and fix state,
                suppressed findings marked with what suppresses them; and the
                vulnerabilities added and fixed against the digest each
                environment ran before ("unscanned" when either has no scan);
  report.json   the same data.

The overview also charts, per environment, the counts by severity of the
digest it runs of each target.

The pages fetch nothing (no fonts, scripts or styles from elsewhere): they
open offline and can be archived as they are. Whatever failed verification is
in the report, in red, with the reason, never left out; the command then
exits 4 after writing it. An environment whose registry cannot be reached is
named (UNREACHABLE in its cells, "unreachable" in report.json and the
summary), the others are reported, and the command exits 6 after writing it.
An unknown target or environment or an unwritable DIR exits 2.`,
		Example: `  bakery report --out report/                  # every target and environment
  bakery report golden-base --env prod --out /tmp/prod-report
  bakery report --out report/ -o json          # a summary: files written, digests, what failed verification, vulnerabilities per cell
  xdg-open report/index.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return outputOrOut(err, ro.output, out)
			}
			if out == "" {
				return usageError("--out DIR is required")
			}
			if parallel < 1 {
				return usageError("--parallel must be at least 1")
			}
			return runReport(cmd, ro, report.Options{Targets: args, Environments: sel.envs, Parallel: parallel}, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write index.html, a page per digest and report.json into")
	f.IntVar(&parallel, "parallel", parallel, "how many histories and digests to read at once")
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// outputOrOut adds "did you mean --out" to a bad -o: report -o DIR is a
// directory meant for --out, not an output format. Other errors, or -o
// next to an --out, pass.
func outputOrOut(err error, output, out string) error {
	if out != "" || slices.Contains([]string{"text", "wide", "json"}, output) {
		return err
	}
	return failure.New(failure.Config, "--output", fmt.Errorf("unknown format %q", output),
		"did you mean --out "+output+"? -o is the output format: text, wide or json")
}

// reportSummary is `bakery report -o json`.
type reportSummary struct {
	*report.Written
	Targets      []string `json:"targets"`
	Environments []string `json:"environments"`
	Digests      int      `json:"digests"`
	Unverified   []string `json:"unverified"`
	// Unreachable names the environments that could not be read.
	Unreachable []report.Unreachable `json:"unreachable,omitempty"`
	// Vulnerabilities are, per cell whose digest was read, its known
	// vulnerabilities in short (the report's pages have the findings).
	Vulnerabilities []cellVulns `json:"vulnerabilities"`
}

// cellVulns is one cell's vulnerabilities in report -o json.
type cellVulns struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	report.VulnCounts
}

// vulnsOfCells lists the vulnerabilities of each cell whose digest was read.
func vulnsOfCells(r *report.Report) []cellVulns {
	out := []cellVulns{}
	for _, c := range r.Cells {
		if c.Vulnerabilities != nil {
			out = append(out, cellVulns{Target: c.Target, Environment: c.Environment, Digest: c.Digest, VulnCounts: *c.Vulnerabilities})
		}
	}
	return out
}

// runReport loads the config and keys, gathers the report, writes it, and
// fails (exit 4) after writing when anything in it failed verification.
func runReport(cmd *cobra.Command, ro *rootOptions, opts report.Options, out string) error {
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	opts.Config, opts.Verifier = s.cfg, s.verifier
	r, partial := report.Gather(cmd.Context(), opts)
	if r == nil {
		return partial
	}
	if partial != nil {
		warnUnreachable(cmd.ErrOrStderr(), partial)
	}
	w, err := report.Write(out, r, ro.version)
	if err != nil {
		return err
	}
	bad := r.Unverified()
	if ro.output == "json" {
		err = writeJSON(cmd.OutOrStdout(), reportSummary{Written: w, Targets: r.Targets, Environments: r.Environments,
			Digests: len(r.Digests), Unverified: append([]string{}, bad...), Unreachable: r.Unreachable, Vulnerabilities: vulnsOfCells(r)})
	} else {
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d targets × %d environments, %d digest pages) and %s\n",
			w.Index, len(r.Targets), len(r.Environments), len(w.Pages), w.JSON)
		for _, u := range r.Unreachable {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s), not in the report\n", u.Environment, ro.style(cmd.OutOrStdout()).alert(textUnreachable), u.Repository)
		}
	}
	if err != nil {
		return err
	}
	if partial != nil {
		return partial // exit 6, after the report of what could be read
	}
	if len(bad) == 0 {
		return nil
	}
	return failure.New(failure.Verify, "report", errors.New("failed verification: "+strings.Join(bad, ", ")),
		"the report shows them in red in "+w.Index+"; see bakery verify and bakery status")
}
