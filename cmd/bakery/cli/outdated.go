package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/inventory"
)

func newOutdated(ro *rootOptions) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "outdated [TARGET...] [--check]",
		Short: "Show images whose base image has moved on since they were built",
		Long: `For the digest each environment runs, compare the base images its verified
provenance records (repository, tag and the digest the build used) with what
those tags point at now. What counts is the image the build consumed: when
the base is a multi-platform index, only its image for the platform the build
used is compared, so a base rebuilt with changes to its other platforms alone
does not make the image stale. A base that is itself a bakery target (an app
built FROM golden-base's dev tag) is compared the same way, so chains show up.
STALE images are listed with the days since their current base was made.
--check exits 4 when anything is stale, for a scheduled CI job.`,
		Example: `  bakery outdated
  bakery outdated app --check
  bakery outdated -o json | jq '.[] | select(.stale)'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			bases, err := inventory.Outdated(cmd.Context(), g.cfg, g.keys, args, time.Now())
			if err != nil {
				return err
			}
			if ro.output == "json" {
				if bases == nil {
					bases = []inventory.Base{}
				}
				err = writeJSON(cmd.OutOrStdout(), bases)
			} else {
				err = printOutdated(cmd, bases)
			}
			if err != nil || !check {
				return err
			}
			var stale []string
			for _, b := range bases {
				if b.Stale {
					stale = append(stale, fmt.Sprintf("%s in %s (base %s)", b.Target, b.Environment, b.Image))
				}
			}
			if len(stale) == 0 {
				return nil
			}
			return failure.New(failure.Verify, "outdated --check", errors.New("stale: "+strings.Join(stale, ", ")),
				"rebuild them (bakery build) and promote the new digests")
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "exit 4 when any environment runs an image whose base has moved")
	return cmd
}

func printOutdated(cmd *cobra.Command, bases []inventory.Base) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tENVIRONMENT\tDIGEST\tBASE\tBUILT ON\tNOW\tSTATE\tDAYS")
	for _, b := range bases {
		state, days := "current", "-"
		if b.Stale {
			state = "STALE"
			if b.Since != "" {
				days = fmt.Sprint(b.Days)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Target, b.Environment, short(b.Digest), b.Image,
			short(b.Recorded), short(b.Current), state, days)
	}
	return tw.Flush()
}
