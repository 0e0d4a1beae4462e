package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/revoke"
)

// historyEntry is a receipt in the history, and the digest's revocation.
type historyEntry struct {
	promote.Entry
	Revoked *revoke.Entry `json:"revoked,omitempty"`
}

func newHistory(ro *rootOptions) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:     "history TARGET [--env ENV]",
		Short:   "List the signed receipts of a target, per environment, from the registry",
		Example: `  bakery history golden-base --env prod -o json`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			if _, err := g.cfg.LookupTarget(args[0]); err != nil {
				return err
			}
			if env != "" {
				if _, _, err := g.cfg.LookupEnvironment(env); err != nil {
					return err
				}
			}
			revs, err := revoke.Load(cmd.Context(), g.cfg, g.keys)
			if err != nil {
				return err
			}
			entries := []historyEntry{}
			for i := range g.cfg.Environments {
				e := &g.cfg.Environments[i]
				if env != "" && e.Name != env {
					continue
				}
				h, err := promote.History(cmd.Context(), g.keys, args[0], e)
				if err != nil {
					return err
				}
				for _, he := range h {
					out := historyEntry{Entry: he}
					if r, ok := revs.Revoked(he.Digest, time.Now()); ok {
						out.Revoked = &r
					}
					entries = append(entries, out)
				}
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tENVIRONMENT\tACTION\tDIGEST\tSIGNER\tRESULT\tREVOKED")
			for _, e := range entries {
				revoked := "-"
				if e.Revoked != nil {
					revoked = "REVOKED: " + e.Revoked.Reason
				}
				action := e.Action
				if e.Replaced != "" {
					action += " --force, replaced " + e.Replaced
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Environment, action, e.Digest, e.KeyID, e.Result, revoked)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}
