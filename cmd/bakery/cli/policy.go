package cli

import (
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

func newPolicy(ro *rootOptions) *cobra.Command {
	pol := &cobra.Command{Use: "policy", Short: "Evaluate promotion policies"}
	var env, target string
	eval := &cobra.Command{
		Use:   "eval IMAGE --env ENV",
		Short: "Print the policy decision for promoting IMAGE into ENV, without promoting",
		Example: `  bakery policy eval 127.0.0.1:5000/staging/golden-base:staging --env prod
  bakery policy eval IMAGE@DIGEST --env prod -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := ro.gateFor(cmd, env)
			if err != nil {
				return err
			}
			e, _, err := g.cfg.LookupEnvironment(env)
			if err != nil {
				return err
			}
			ref, err := attest.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if target == "" {
				target = path.Base(ref.Context().RepositoryStr())
			}
			// A failed verification still yields what did verify; the
			// policies then say what is missing.
			_, dec, derr := g.decider().Decide(cmd.Context(), ref, target, "", e)
			if dec == nil {
				return derr
			}
			if ro.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), dec); err != nil {
					return err
				}
			} else {
				verdict := "ALLOWED"
				if !dec.Allowed {
					verdict = "DENIED"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s → %s (policies: %s)\n", verdict, ref, env, strings.Join(e.Policies, ", "))
				for _, v := range dec.Violations {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s: %s\n", v.Policy, v.Message)
				}
			}
			if !dec.Allowed {
				return failure.New(failure.Policy, "promotion of "+ref.String()+" to "+env, fmt.Errorf("%d violation(s)", len(dec.Violations)), "see above")
			}
			return derr
		},
	}
	eval.Flags().StringVar(&env, "env", "", "environment whose policies apply")
	eval.Flags().StringVar(&target, "target", "", "target name (default: the repository's last path component)")
	addKeyFlag(eval, ro)
	pol.AddCommand(eval)
	return pol
}
