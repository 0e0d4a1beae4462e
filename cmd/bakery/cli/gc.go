package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/gc"
	"github.com/bakeryhq/bakery/gc/record"
)

func newGC(ro *rootOptions) *cobra.Command {
	var (
		sel      selection
		yes      bool
		parallel = 8
	)
	cmd := &cobra.Command{
		Use:   "gc [TARGET...] [--env ENV]... [--yes]",
		Short: "Delete what no environment can need any more, with its signatures and attestations (a plan unless --yes)",
		Long: `Retention. bakery gc reads every target's repositories in every environment
and keeps, per target and environment: what the environment's tag points at;
the newest digests holding a receipt there (retention.rollback_window,
default 5) and anything built or receipted within retention.min_age (default
24h); whatever a later environment keeps; every digest the verified
provenance of a kept digest names as a base or material; every digest a
revocation names; the platform images of a kept index. Everything else that a
tag, an attachment or an unfinished gc run names in the selected
repositories is deleted, each with its .sig, .att and referrer tags, which go
first; a machine image's AMIs are deregistered and their snapshots deleted.

Without --yes nothing changes: the plan is printed. With --yes each
repository's run is written, signed, to its gc log (REPOSITORY:bakery-gc)
before the first deletion and marked done after the last, so a run that was
killed is finished by the next; bakery history shows the deleted digests as
deleted. The registry frees the space in its own garbage collection (for the
distribution registry, registry garbage-collect). A registry that refuses
DELETE is a config error (exit 2) naming the setting that allows it.`,
		Example: `  bakery gc                      # the plan for every target and environment
  bakery gc app --env dev --yes   # delete app's leftovers in dev
  bakery gc -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGC(cmd, ro, &sel, args, yes, parallel)
		},
	}
	sel.addEnvFlag(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "delete what the plan says (without it, nothing changes)")
	cmd.Flags().IntVar(&parallel, "parallel", parallel, "registry requests in flight at once")
	addActorFlag(cmd, ro)
	addKeyFlag(cmd, ro)
	return cmd
}

// runGC plans (and with yes, applies) gc of the selection.
func runGC(cmd *cobra.Command, ro *rootOptions, sel *selection, args []string, yes bool, parallel int) error {
	if err := ro.validate(); err != nil {
		return err
	}
	if parallel < 1 {
		return usageError("--parallel must be at least 1")
	}
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	if err := sel.resolve(s.cfg, args); err != nil {
		return err
	}
	var signer *attest.PendingSigner
	if yes {
		signer = s.pendingSigner(cmd.Context())
	}
	stderr := cmd.ErrOrStderr()
	c := gc.New(gc.Options{Config: s.cfg, Verifier: s.verifier, Signer: signer, Parallel: parallel,
		Progress: func(format string, a ...any) { fmt.Fprintf(stderr, "gc: "+format+"\n", a...) }})
	plan, err := c.Plan(cmd.Context(), gc.Selection{Targets: sel.targets, Environments: sel.envs})
	if err != nil {
		return err
	}
	for _, w := range append(plan.Warnings, plan.Ignored...) {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	res := &gc.Result{Plan: plan}
	if yes {
		res, err = c.Apply(cmd.Context(), plan)
	}
	if ro.output == "json" {
		if perr := writeJSON(cmd.OutOrStdout(), res); perr != nil {
			return perr
		}
		return err
	}
	printGC(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), res, yes, err == nil)
	return err
}

// printGC prints the plan: a row per digest kept or deleted (attachments
// counted with what they belong to), then what it frees, and what was done.
func printGC(w io.Writer, s style, res *gc.Result, applied, ok bool) {
	t := newTable("TARGET", "ENVIRONMENT", "DIGEST", "KIND", "ACTION", "WHY")
	kept, deleted, attachments := 0, 0, 0
	for _, r := range res.Plan.Repositories {
		for _, k := range r.Keep {
			kept++
			t.row(r.Target, r.Environment, s.digest(k.Digest), k.Kind, "keep", strings.Join(k.Reasons, "; "))
		}
		for _, d := range r.Delete {
			if d.Kind == record.KindAttachments {
				attachments++
				continue
			}
			deleted++
			why := d.Reason
			if n := attachedTo(r, d.Digest); n > 0 {
				why += fmt.Sprintf(" (with %d attachments)", n)
			}
			t.row(r.Target, r.Environment, s.digest(d.Digest), d.Kind, s.alert("delete"), why)
		}
		for _, a := range r.AMIs {
			t.row(r.Target, r.Environment, s.digest(a.Digest), "AMI "+a.ID, s.alert("deregister"), "in "+a.Region+", with its snapshots")
		}
	}
	_ = t.write(w)
	for _, r := range res.Plan.Repositories {
		for _, l := range r.Left {
			fmt.Fprintf(w, "%s: %s\n", r.Repository, l)
		}
	}
	p := res.Plan
	fmt.Fprintf(w, "\nkeep %d digests; delete %d manifests (%d with %d attachments) and %d AMIs, freeing %s\n",
		kept, p.Deletions, deleted, attachments, p.AMIs, humanBytes(p.Bytes))
	switch {
	case !applied && p.Deletions+p.AMIs > 0:
		fmt.Fprintln(w, "nothing was deleted: run again with --yes to delete")
	case applied && ok:
		fmt.Fprintf(w, "deleted %d manifests and %d AMIs; the registry gives the space back in its own garbage collection\n", res.Deleted, res.Deregistered)
	}
}

// attachedTo counts the attachments a plan deletes with subject.
func attachedTo(r *gc.Repository, subject string) int {
	n := 0
	for _, d := range r.Delete {
		if d.Kind == record.KindAttachments && d.Subject == subject {
			n++
		}
	}
	return n
}

// humanBytes is n in B, kB, MB or GB (powers of 1000, as registries say).
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
