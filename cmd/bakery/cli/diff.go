package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
)

func newDiff(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "diff IMAGE_A IMAGE_B",
		Short: "Show how two verified images' SBOMs differ: packages added, removed, changed, and new licenses",
		Long: `Resolve and verify both images as bakery verify does, then compare the
packages of their SPDX SBOMs (every platform): what IMAGE_B adds, removes
and changes against IMAGE_A, and the licenses IMAGE_B has that no package of
IMAGE_A had. It is the delta the sbom_delta policy sees when IMAGE_B is
promoted into an environment that runs IMAGE_A.`,
		Example: `  bakery diff registry.example/prod/web:prod registry.example/staging/web:staging
  bakery diff IMAGE@sha256:… IMAGE@sha256:… -o json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			var pkgs [2][]policies.Package
			against := ""
			for i, ref := range args {
				rep, err := o.resolveAndVerify(cmd, ref)
				if err != nil {
					return err
				}
				if i == 0 {
					against = rep.Digest.String()
				}
				if pkgs[i], err = promote.Packages(rep); err != nil {
					return err
				}
			}
			d := policies.Diff(against, pkgs[0], pkgs[1])
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), deltaJSON(d))
			}
			return printDelta(cmd, d)
		},
	}
	o.addFlags(cmd)
	return cmd
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
