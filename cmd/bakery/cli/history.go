package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
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
	// suites are the target's suites, for TESTS in text.
	suites []string
}

// MarshalJSON writes e in camelCase (promote.EntryJSON) with its
// revocation and why its environment was unreachable.
func (e historyEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		promote.EntryJSON
		Revoked     *revoke.Entry `json:"revocation,omitempty"`
		Unreachable string        `json:"unreachable,omitempty"`
	}{e.JSON(), e.Revoked, e.Unreachable})
}

func newHistory(ro *rootOptions) *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "history [TARGET...] [--env ENV]...",
		Short: "List every event of targets (build, promote, rollback, import, revoke, restore) with who and why, from the registry",
		Example: `  bakery history golden-base --env prod -o json
  bakery history               # every target, every environment`,
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
			targets := args
			if len(targets) == 0 {
				targets = g.cfg.TargetNames()
			}
			revs, err := revoke.Load(cmd.Context(), g.cfg, g.verifier)
			if err != nil {
				return err
			}
			var entries []historyEntry
			down := map[string]error{}
			for _, target := range targets {
				e, d, err := historyOf(cmd.Context(), cmd.ErrOrStderr(), g, target, &sel, revs)
				if err != nil {
					return err
				}
				entries = append(entries, e...)
				for k, v := range d {
					down[k] = v
				}
			}
			if entries == nil {
				entries = []historyEntry{}
			}
			sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time < entries[j].Time })
			return ro.printHistory(cmd, g, entries, down)
		},
	}
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// historyOf is every event of target (in env, or every environment):
// verified receipts, revocations and restorations, oldest first; down names
// the environments whose registry could not be read.
func historyOf(ctx context.Context, stderr io.Writer, g *gate, target string, sel *selection, revs *revoke.Set) (entries []historyEntry, down map[string]error, err error) {
	entries, down = []historyEntry{}, map[string]error{}
	for i := range g.cfg.Environments {
		e := &g.cfg.Environments[i]
		if !sel.hasEnv(e.Name) {
			continue
		}
		h, err := promote.HistoryWithTests(ctx, g.verifier, target, e)
		if failure.ClassOf(err) == failure.Unavailable {
			// The other environments are still shown; exit 6 at the end.
			down[e.Name] = err
			entries = append(entries, historyEntry{Entry: promote.Entry{Target: target, Receipt: policies.Receipt{Environment: e.Name}}, Unreachable: err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		deleted, err := promote.DeletedHistory(ctx, g.verifier, target, e)
		switch {
		case failure.ClassOf(err) == failure.Unavailable:
			return nil, nil, err
		case err != nil: // a gc log no trusted key signed counts for nothing
			fmt.Fprintf(stderr, "warning: %v (ignored)\n", err)
		}
		for _, he := range append(h, deleted...) {
			out := historyEntry{Entry: he, suites: promote.Suites(g.cfg, target)}
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

// printHistoryTable prints a row per event: in text, its age, a short
// digest, who without the run's URL, the digest's tests as status says
// them, and why; with -o wide, every column in full.
func printHistoryTable(w io.Writer, s style, entries []historyEntry) error {
	t := newTable("AGE", "ENVIRONMENT", "ACTION", "DIGEST", "BY", "TESTS", "REVOKED", "REASON")
	if s.wide {
		t = newTable("TIME", "ENVIRONMENT", "ACTION", "DIGEST", "BY", "SIGNER", "RESULT", "TESTS", "REVOKED", "REASON")
	}
	for _, e := range entries {
		if e.Unreachable != "" {
			cells := []string{textNone, e.Environment, s.alert(textUnreachable), textNone, textNone, textNone, textNone, textNone}
			if s.wide {
				cells = append(cells, textNone, textNone)
			}
			t.row(cells...)
			continue
		}
		action, by, rev := e.Action, dash(e.Actor), textNone
		if e.Deleted != nil && e.Action != promote.ActionDelete {
			action += " (deleted)"
		}
		if e.Replaced != "" {
			action += " --force"
			if s.wide {
				action += ", replaced " + e.Replaced
			}
		}
		if e.Revoked != nil {
			rev = s.alert(textRevoked)
			if s.wide {
				rev += ": " + e.Revoked.Reason
			}
		}
		if !s.wide {
			by, _, _ = strings.Cut(by, " (") // the CI run's URL is in -o wide
			t.row(s.when(e.Time), e.Environment, action, s.digest(e.Digest), by, testsCell(s, e.Tests, e.suites), rev, dash(e.Reason))
			continue
		}
		t.row(s.when(e.Time), e.Environment, action, s.digest(e.Digest), by, dash(e.KeyID), dash(e.Result),
			testsCell(s, e.Tests, e.suites), rev, dash(e.Reason))
	}
	return t.write(w)
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
	if err := printHistoryTable(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), entries); err != nil {
		return err
	}
	return partial
}
