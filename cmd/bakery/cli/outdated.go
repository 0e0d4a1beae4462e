package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/inventory"
)

func newOutdated(ro *rootOptions) *cobra.Command {
	var check bool
	var sel selection
	cmd := &cobra.Command{
		Use:   "outdated [TARGET...] [--env ENV]... [--check]",
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
			if err := sel.resolve(g.cfg, args); err != nil {
				return err
			}
			bases, err := inventory.Outdated(cmd.Context(), g.cfg, g.verifier, args, time.Now())
			if err != nil {
				return err
			}
			bases = selected(&sel, bases, func(b inventory.Base) (string, string) { return b.Target, b.Environment })
			if ro.output == "json" {
				if bases == nil {
					bases = []inventory.Base{}
				}
				err = writeJSON(cmd.OutOrStdout(), bases)
			} else {
				err = printOutdated(cmd, ro.style(cmd.OutOrStdout()), bases)
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
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// printOutdated prints a row per base: in text, short digests and how long
// a stale image has been stale (the age of the base it should be on); with
// -o wide, the digest built on and the current one, in full.
func printOutdated(cmd *cobra.Command, s style, bases []inventory.Base) error {
	t := newTable("TARGET", "ENVIRONMENT", "DIGEST", "BASE", "STATE", "STALE FOR")
	if s.wide {
		t = newTable("TARGET", "ENVIRONMENT", "DIGEST", "BASE", "BUILT ON", "NOW", "STATE", "SINCE", "DAYS")
	}
	for _, b := range bases {
		state, since, days := "current", textNone, textNone
		if b.Stale {
			state = "STALE"
			if b.Since != "" {
				since, days = s.when(b.Since), fmt.Sprint(b.Days)
			}
		}
		if s.wide {
			t.row(b.Target, b.Environment, s.digest(b.Digest), b.Image, s.digest(b.Recorded), s.digest(b.Current), state, since, days)
			continue
		}
		t.row(b.Target, b.Environment, s.digest(b.Digest), b.Image, state, since)
	}
	return t.write(cmd.OutOrStdout())
}
