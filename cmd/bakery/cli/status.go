package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/promote"
)

func newStatus(ro *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what every environment runs, for every target, from the registry",
		Example: `  bakery status
  bakery status -o json   # for Terraform or dashboards: digests, and AMI ids per region for machine images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			st, err := promote.CurrentStatus(cmd.Context(), g.cfg, g.keys)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tKIND\tENVIRONMENT\tDIGEST\tAMIS\tSINCE\tACTION\tSIGNER\tVERIFIED")
			for _, s := range st {
				if s.Digest == "" {
					fmt.Fprintf(tw, "%s\t\t%s\t-\t\t\t\t\t-\n", s.Target, s.Environment)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", s.Target, s.Kind, s.Environment, s.Digest,
					amiList(s.AMIs), s.Time, s.Action, s.Signer, s.Verified)
			}
			return tw.Flush()
		},
	}
	return cmd
}
