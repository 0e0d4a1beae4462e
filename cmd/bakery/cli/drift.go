package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
)

func newDrift(ro *rootOptions) *cobra.Command {
	var registryOnly bool
	cmd := &cobra.Command{
		Use:   "drift [--registry-only]",
		Short: "Find every environment that no longer runs what bakery put there, and say how to fix it",
		Long: `Check every target's tag in every environment, and every AMI a machine
image's receipt names, against what bakery recorded:
  - a tag that points at a digest that does not verify, holds no receipt for
    the environment (pushed or tagged outside bakery), or is not the digest
    bakery last put there (moved by hand);
  - a revoked digest still running;
  - an AMI that is gone, disabled or deprecated without a revocation, whose
    bakery.* or configured tags differ, or that an environment's account can
    no longer launch.
Each finding names the command that fixes it. Exit 4 when there is any, so a
scheduled job can alert. AMIs are read with the AWS SDK's usual credentials
and endpoints; --registry-only skips them.`,
		Example: `  bakery drift
  bakery drift -o json | jq -r '.[].fix'
  bakery drift --registry-only   # no AWS credentials at hand`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, st, partial, err := ro.currentStatus(cmd)
			if err != nil {
				return err
			}
			inspectors := promote.DefaultInspector
			if registryOnly {
				inspectors = nil
			}
			findings, err := promote.Drift(cmd.Context(), g.cfg, st, inspectors)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				if findings == nil {
					findings = []promote.Finding{}
				}
				err = writeJSON(cmd.OutOrStdout(), findings)
			} else {
				err = printDrift(cmd.OutOrStdout(), findings)
			}
			if err != nil {
				return err
			}
			if partial != nil {
				return partial // exit 6, after what could be read
			}
			if len(findings) == 0 {
				return nil
			}
			return failure.New(failure.Verify, "drift", fmt.Errorf("%d findings: %s %s in %s, and more above", len(findings),
				findings[0].What, findings[0].Target, findings[0].Environment), "run the FIX of each finding")
		},
	}
	cmd.Flags().BoolVar(&registryOnly, "registry-only", false, "check the registry side only; do not read AMIs")
	return cmd
}

func printDrift(w io.Writer, findings []promote.Finding) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintln(w, "no drift: every environment runs what bakery put there")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tENVIRONMENT\tDIGEST\tWHAT\tDETAIL\tFIX")
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Target, f.Environment, short(f.Digest), f.What, f.Detail, f.Fix)
	}
	return tw.Flush()
}
