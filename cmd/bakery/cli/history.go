package cli

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/revoke"
)

// historyEntry is a receipt in the history, and the digest's revocation.
type historyEntry struct {
	promote.Entry
	Revoked *revoke.Entry `json:"revocation,omitempty"`
	// Unreachable is set on the one entry of an environment whose registry
	// could not be read: why.
	Unreachable string `json:"unreachable,omitempty"`
}

func newHistory(ro *rootOptions) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:     "history TARGET [--env ENV]",
		Short:   "List every event of a target (build, promote, rollback, import, revoke, restore) with who and why, from the registry",
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
			entries, down, err := historyOf(cmd.Context(), g, args[0], env)
			if err != nil {
				return err
			}
			return ro.printHistory(cmd, g, entries, down)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

// historyOf is every event of target (in env, or every environment):
// verified receipts, revocations and restorations, oldest first; down names
// the environments whose registry could not be read.
func historyOf(ctx context.Context, g *gate, target, env string) (entries []historyEntry, down map[string]error, err error) {
	if _, err := g.cfg.LookupTarget(target); err != nil {
		return nil, nil, err
	}
	if env != "" {
		if _, _, err := g.cfg.LookupEnvironment(env); err != nil {
			return nil, nil, err
		}
	}
	revs, err := revoke.Load(ctx, g.cfg, g.keys)
	if err != nil {
		return nil, nil, err
	}
	entries, down = []historyEntry{}, map[string]error{}
	for i := range g.cfg.Environments {
		e := &g.cfg.Environments[i]
		if env != "" && e.Name != env {
			continue
		}
		h, err := promote.History(ctx, g.keys, target, e)
		if failure.ClassOf(err) == failure.Unavailable {
			// The other environments are still shown; exit 6 at the end.
			down[e.Name] = err
			entries = append(entries, historyEntry{Entry: promote.Entry{Target: target, Receipt: policies.Receipt{Environment: e.Name}}, Unreachable: err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, he := range h {
			out := historyEntry{Entry: he}
			if r, ok := revs.Revoked(he.Digest, time.Now()); ok {
				out.Revoked = &r
			}
			entries = append(entries, out)
		}
	}
	// Revocations and restorations are events of the target too,
	// in every environment at once: who, why, when.
	for _, e := range revs.Entries() {
		if e.Target == target {
			entries = append(entries, historyEntry{Entry: promote.Entry{Target: e.Target, Receipt: policies.Receipt{
				Environment: "(all)", Digest: e.Digest, Time: e.Time, Action: e.Action, Reason: e.Reason, Actor: e.By, Result: "-"}}})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time < entries[j].Time }) // fixed-width times
	return entries, down, nil
}

// printHistory prints entries, warning once about the environments in down
// and ending with their exit-6 error.
func (ro *rootOptions) printHistory(cmd *cobra.Command, g *gate, entries []historyEntry, down map[string]error) error {
	partial := promote.Unreachable(g.cfg, down)
	if partial != nil {
		warnUnreachable(cmd.ErrOrStderr(), partial)
	}
	if ro.output == "json" {
		if err := writeJSON(cmd.OutOrStdout(), entries); err != nil {
			return err
		}
		return partial
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tENVIRONMENT\tACTION\tDIGEST\tBY\tSIGNER\tRESULT\tREVOKED")
	for _, e := range entries {
		if e.Unreachable != "" {
			fmt.Fprintf(tw, "-\t%s\tUNREACHABLE\t-\t-\t-\t-\t-\n", e.Environment)
			continue
		}
		revoked := "-"
		if e.Revoked != nil {
			revoked = "REVOKED: " + e.Revoked.Reason
		}
		action := e.Action
		if e.Replaced != "" {
			action += " --force, replaced " + e.Replaced
		}
		if e.Reason != "" {
			action += fmt.Sprintf(" (reason: %q)", e.Reason)
		}
		by := e.Actor
		if by == "" {
			by = "-"
		}
		signer := e.KeyID
		if signer == "" {
			signer = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Environment, action, e.Digest, by, signer, e.Result, revoked)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return partial
}
