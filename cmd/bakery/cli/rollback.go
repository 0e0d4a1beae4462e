package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/promote"
)

func newRollback(ro *rootOptions) *cobra.Command {
	var req promote.RollbackRequest
	var wait waitOptions
	var admissionDir string
	cmd := &cobra.Command{
		Use:   "rollback TARGET --env ENV [--digest DIGEST] [--reason TEXT] [--write PATH...]",
		Short: "Point an environment back at a digest that was promoted there",
		Long: `Move ENV's tag back to DIGEST, which must hold a verified receipt for ENV.
By default: where bakery last put the tag (the digest of the newest receipt,
what bakery status calls expected) when the tag was moved by hand, else the
most recent digest that arrived before the current one. The digest is
verified again, and the rollback records a signed receipt of its own, with
the digest it replaced and --reason.

A rollback holds: the digest rolled back out is refused by later promotions
into ENV (bare, --all, --metadata-file) until it is promoted by name
(bakery promote TARGET --to ENV --digest DIGEST --reason TEXT).

--write PATH (repeatable, or comma-separated) pins the digest rolled back to
in PATH, a deploy file bakery.yaml declares for TARGET in ENV, once the
rollback's receipt is signed and the tag settled (as bakery promote --write
does); a PATH declared for no such file, or a file that does not parse, is
exit 2 before anything happens.

A machine image's instances go back too: when ENV's aws.rollout names launch
templates for TARGET, each gets a version with the AMI of DIGEST and each
group an instance refresh onto it, after the receipt (--wait waits for them).`,
		Example: `  bakery rollback golden-base --env prod --reason "INC-1234: 500s after deploy"
  bakery rollback golden-base --env prod --digest sha256:…
  bakery rollback app --env prod --write deploy/prod/kustomization.yaml --reason "INC-1234"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := wait.validate(); err != nil {
				return err
			}
			g, err := ro.gateFor(cmd, req.Env)
			if err != nil {
				return err
			}
			req.Target, req.Wait = args[0], wait.options(cmd)
			if req.To != "" {
				if req.To, err = promote.ResolvePrefix(cmd.Context(), g.verifier, g.cfg, req.Target, req.Env, req.To); err != nil {
					return err
				}
			}
			res, rerr := g.promoter(cmd.Context(), ro.version).RollbackWith(cmd.Context(), req)
			if res != nil {
				if ro.output != "json" {
					s := ro.style(cmd.OutOrStdout())
					fmt.Fprintf(cmd.OutOrStdout(), "rolling back %s in %s: %s → %s\n", res.Target, res.Environment, s.digest(res.From), s.digest(res.Digest))
				}
				if err := ro.printResult(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			}
			if rerr != nil && (res == nil || !res.Receipt) {
				return rerr
			}
			if err := rewriteAdmission(cmd, ro, admissionDir, []string{req.Env}); err != nil && rerr == nil {
				return err
			}
			return rerr
		},
	}
	rollbackFlags(cmd, &req)
	wait.addFlags(cmd)
	admissionFlag(cmd, &admissionDir)
	addActorFlag(cmd, ro)
	addKeyFlag(cmd, ro)
	return cmd
}

// rollbackFlags are the flags that fill rollback's request.
func rollbackFlags(cmd *cobra.Command, req *promote.RollbackRequest) {
	cmd.Flags().StringVar(&req.Env, "env", "", "environment to roll back")
	cmd.Flags().StringVar(&req.To, "digest", "", "digest (or a unique prefix of 12+ hex digits) to roll back to (default: where bakery last put the tag, else the previous one)")
	// --to is an environment everywhere else; rollback's old spelling of
	// --digest stays for one release.
	cmd.Flags().StringVar(&req.To, "to", "", "the digest to roll back to")
	_ = cmd.Flags().MarkDeprecated("to", "use --digest (--to names an environment in every other command)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, recorded in the rollback's receipt and shown by bakery history")
	cmd.Flags().StringSliceVar(&req.Write, "write", nil, "pin the digest rolled back to in this deploy file declared in bakery.yaml (repeatable, comma-separated), after the receipt is signed")
}
