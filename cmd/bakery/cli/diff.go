package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/report"
	"github.com/bakeryhq/bakery/vuln"
)

func newDiff(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "diff IMAGE_A IMAGE_B",
		Short: "Show how two verified images differ: packages added, removed, changed, new licenses, and vulnerabilities added and fixed",
		Long: `Resolve and verify both images as bakery verify does, then compare the
packages of their SPDX SBOMs (every platform): what IMAGE_B adds, removes
and changes against IMAGE_A, and the licenses IMAGE_B has that no package of
IMAGE_A had. It is the delta the sbom_delta policy sees when IMAGE_B is
promoted into an environment that runs IMAGE_A.

It then compares their known vulnerabilities, as every command reads them:
the verified scan that counts per platform (bakery scan), judged by the VEX
attached and bakery.yaml's signed VEX files and waivers. Vulnerabilities
IMAGE_B has that IMAGE_A had not are "added", those IMAGE_A had that IMAGE_B
has not are "fixed", by id and package over every platform; suppressed
findings are listed too, with what suppresses them. Scans count for the
target they were made for (--target, default each image's repository's last
path component). An image without a scan is "unscanned", not clean: then
nothing is compared.`,
		Example: `  bakery diff registry.example/prod/web:prod registry.example/staging/web:staging
  bakery diff IMAGE@sha256:… IMAGE@sha256:… -o json
  bakery diff prod/web:prod staging/web:staging --target web`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			var pkgs [2][]policies.Package
			var reps [2]*attest.Report
			for i, ref := range args {
				rep, err := o.resolveAndVerify(cmd, ref)
				if err != nil {
					return err
				}
				if pkgs[i], err = promote.Packages(rep); err != nil {
					return err
				}
				reps[i] = rep
			}
			against := reps[0].Digest.String()
			d := policies.Diff(against, pkgs[0], pkgs[1])
			v := o.compareVulns(cmd, reps)
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), diffJSON{deltaJSON: deltaJSON(d), Vulnerabilities: v})
			}
			if err := printDelta(cmd, d); err != nil {
				return err
			}
			return printVulnDelta(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), args, v)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.target, "target", "", "target whose vulnerability scans count (default: each repository's last path component)")
	return cmd
}

// compareVulns is the vulnerability delta from the first verified report
// to the second (report.CompareVulns), each judged with bakery.yaml's VEX
// files and waivers (none without a bakery.yaml).
func (o *verifyOptions) compareVulns(cmd *cobra.Command, reps [2]*attest.Report) report.VulnDelta {
	var sup *vuln.Suppressions
	if o.cfg != nil {
		sup = vuln.NewSuppressions(cmd.Context(), o.cfg, o.verifier.Keys())
	}
	now := time.Now()
	before, _ := sup.Evidence(reps[0], o.targetOf(reps[0]), now)
	after, _ := sup.Evidence(reps[1], o.targetOf(reps[1]), now)
	return report.CompareVulns(reps[0].Digest.String(), before, after)
}

// diffJSON is diff -o json: the package delta, and the vulnerabilities
// added and fixed. Its keys are camelCase, as the CLI's are.
type diffJSON struct {
	deltaJSON
	Vulnerabilities report.VulnDelta `json:"vulnerabilities"`
}

// deltaJSON is diff -o json: the policies.Delta the sbom_delta policy sees,
// in the CLI's camelCase (the policy input keeps Rego's snake_case).
type deltaJSON struct {
	Against     string             `json:"against"`
	Added       []policies.Package `json:"added"`
	Removed     []policies.Package `json:"removed"`
	Changed     []policies.Change  `json:"changed"`
	NewLicenses []string           `json:"newLicenses"`
}

func printDelta(cmd *cobra.Command, d policies.Delta) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tPACKAGE\tTYPE\tVERSION\tLICENSES")
	for _, p := range d.Added {
		fmt.Fprintf(tw, "added\t%s\t%s\t%s\t%s\n", p.Name, dash(p.Type), p.Version, strings.Join(p.Licenses, " "))
	}
	for _, p := range d.Removed {
		fmt.Fprintf(tw, "removed\t%s\t%s\t%s\t%s\n", p.Name, dash(p.Type), p.Version, strings.Join(p.Licenses, " "))
	}
	for _, c := range d.Changed {
		fmt.Fprintf(tw, "changed\t%s\t%s\t%s → %s\t\n", c.Name, dash(c.Type), c.From, c.To)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.NewLicenses) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "new licenses: %s\n", strings.Join(d.NewLicenses, ", "))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
	return nil
}

// printVulnDelta prints the vulnerabilities added and fixed, a row each as
// scan shows a finding, then a line that says how many and each image's
// summary; or, when an image is unscanned, that nothing was compared.
func printVulnDelta(w io.Writer, s style, images []string, v report.VulnDelta) error {
	if !v.Scanned {
		var unscanned []string
		for i, sum := range []string{v.Before, v.After} {
			if sum == "unscanned" {
				unscanned = append(unscanned, images[i])
			}
		}
		verb := "is"
		if len(unscanned) > 1 {
			verb = "are"
		}
		_, err := fmt.Fprintf(w, "vulnerabilities: not compared, %s %s unscanned (%s: %s; %s: %s); see bakery scan\n",
			strings.Join(unscanned, " and "), verb, images[0], v.Before, images[1], v.After)
		return err
	}
	if len(v.Added)+len(v.Fixed) > 0 {
		t := newTable("CHANGE", "ID", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "PLATFORM", "SUPPRESSED")
		for _, l := range []struct {
			change string
			list   []report.VulnChange
		}{{"added", v.Added}, {"fixed", v.Fixed}} {
			for _, c := range l.list {
				t.row(append([]string{l.change}, findingRow(s, strings.Join(c.Platforms, ","), c.Judged)...)...)
			}
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "vulnerabilities: %d added, %d fixed (%s: %s; %s: %s)\n", len(v.Added), len(v.Fixed), images[0], v.Before, images[1], v.After)
	return err
}
