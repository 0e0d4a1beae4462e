package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/deploy/admission"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/revoke"
)

type revokeOptions struct {
	reason  string
	cascade bool
	yes     bool
	at      string
	restore bool
	// admissionDir is where the admission policies to rewrite are.
	admissionDir string
}

// digestArg is the digest of DIGEST or IMAGE@DIGEST: in full, or a prefix
// that promote.ResolvePrefix resolves.
func digestArg(arg string) string {
	if _, d, ok := strings.Cut(arg, "@"); ok {
		return d
	}
	return arg
}

func newRevoke(ro *rootOptions) *cobra.Command {
	o := &revokeOptions{}
	cmd := &cobra.Command{
		Use:   "revoke DIGEST --reason TEXT [--cascade] [--at TIME] [--yes] | revoke DIGEST --restore --reason TEXT",
		Short: "Revoke a digest everywhere: verify, promote, rollback and status refuse it",
		Long: `Add DIGEST (sha256:… or IMAGE@sha256:…, or a unique prefix of at least 12
hex digits, as bakery status prints it) to the signed revocation list that
every environment holds (ENV_REPOSITORY/bakery-revocations:list, signed with
signing.key; lists not signed by a trusted key are reported and ignored).
From then on bakery verify exits 4 for it, promote denies it (the not_revoked
policy, on for every environment), rollback never returns to it, and
bakery status shows REVOKED and --check fails, naming the rollback that fixes it.

--cascade also revokes every digest whose provenance names DIGEST (or a digest
revoked by the cascade) as a base or dependency, across targets: images
built FROM a revoked golden base. bakery lists them and asks before acting,
unless --yes. --at schedules the revocation (RFC 3339 time, in the future).
--restore undoes a revocation (with --cascade, also those it cascaded to).

For a machine image, each environment's AMIs (from its receipt) are
deprecated and disabled on EC2 (EnableImageDeprecation, DisableImage); a
scheduled revocation deprecates them at --at (EC2 cannot schedule the
disabling); --restore enables them and cancels the deprecation.

--write-admission DIR rewrites the admission policies in DIR (bakery
admission --out DIR) of every environment from the new list, so that a
cluster learns of the revocation through the same Git path as a deployment.`,
		Example: `  bakery revoke sha256:4b1e… --reason "CVE-2024-3094 in xz-utils 5.6.0"
  bakery revoke 127.0.0.1:5000/dev/golden-base@sha256:4b1e… --reason "CVE-2024-3094" --cascade --yes -o json
  bakery revoke sha256:4b1e… --reason "end of support" --at 2026-12-31T00:00:00Z
  bakery revoke sha256:4b1e… --restore --reason "false positive"
  bakery revoke sha256:4b1e… --reason "CVE-2024-3094" --write-admission deploy/admission`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			if _, _, err := promote.ParsePrefix(digestArg(args[0])); err != nil {
				return err
			}
			if strings.TrimSpace(o.reason) == "" {
				return usageError("--reason TEXT is required: say why, for the people who read the list")
			}
			return o.run(cmd, ro, digestArg(args[0]))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why (recorded and shown wherever the digest is refused)")
	f.BoolVar(&o.cascade, "cascade", false, "also revoke every digest built on this one, transitively")
	f.BoolVar(&o.yes, "yes", false, "do not ask before revoking more than DIGEST")
	f.StringVar(&o.at, "at", "", "take effect at this RFC 3339 time instead of now")
	f.BoolVar(&o.restore, "restore", false, "undo a revocation")
	f.StringVar(&o.admissionDir, "write-admission", "", "then rewrite the admission policies in this directory (bakery admission --out DIR)")
	addActorFlag(cmd, ro)
	addKeyFlag(cmd, ro)
	return cmd
}

func (o *revokeOptions) run(cmd *cobra.Command, ro *rootOptions, digest string) error {
	now := time.Now().UTC()
	effective, err := o.effective(now)
	if err != nil {
		return err
	}
	g, err := ro.gate(cmd)
	if err != nil {
		return err
	}
	r := promote.Revocation{Digest: digest, Reason: o.reason, Cascade: o.cascade, Restore: o.restore, Now: now, EffectiveAt: effective}
	if !o.yes {
		r.Confirm = func(entries []revoke.Entry) error { return confirm(cmd, entries) }
	}
	res, err := g.promoter(cmd.Context(), ro.version).Revoke(cmd.Context(), r)
	if res == nil {
		return err
	}
	if err == nil && o.admissionDir != "" {
		res.Admission, err = admission.Rewrite(cmd.Context(), g.cfg, g.verifier, o.admissionDir)
	}
	if ro.output == "json" {
		if perr := writeJSON(cmd.OutOrStdout(), res); perr != nil {
			return perr
		}
		return err
	}
	printEntries(cmd.OutOrStdout(), res.Entries)
	for _, w := range res.AMIs {
		fmt.Fprintf(cmd.OutOrStdout(), "%s in %s: AMIs %s %s\n", w.Target, w.Environment, amiList(w.AMIs), w.Action)
	}
	for _, f := range res.Admission {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: admission policy rewritten\n", f)
	}
	return err
}

// effective is when the entry takes effect: --at, which must be later than
// now, or now.
func (o *revokeOptions) effective(now time.Time) (time.Time, error) {
	if o.at == "" {
		return now, nil
	}
	at, err := time.Parse(time.RFC3339, o.at)
	if err != nil {
		return now, usageError("--at %q: use an RFC 3339 time such as 2026-12-31T00:00:00Z", o.at)
	}
	if !at.After(now) {
		return now, usageError("--at %s is in the past: leave --at out to revoke now", o.at)
	}
	if o.restore {
		return now, usageError("--at schedules revocations; --restore takes effect at once")
	}
	return at.UTC(), nil
}

// confirm lists what a cascade would do and asks on stdin.
func confirm(cmd *cobra.Command, entries []revoke.Entry) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "This will %s %d digests:\n", entries[0].Action, len(entries))
	printEntries(cmd.ErrOrStderr(), entries)
	fmt.Fprint(cmd.ErrOrStderr(), "Proceed? [y/N] ")
	answer, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return failure.New(failure.Config, "revoke", errors.New("not confirmed: nothing was revoked"), "answer y, or pass --yes")
	}
	return nil
}

func printEntries(w io.Writer, entries []revoke.Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tTARGET\tDIGEST\tEFFECTIVE\tCAUSE\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Action, e.Target, e.Digest, e.EffectiveAt, dash(e.Cause), e.Reason)
	}
	_ = tw.Flush()
}
