package cli

import (
	"github.com/spf13/cobra"
)

func newRollback(ro *rootOptions) *cobra.Command {
	var env, to string
	cmd := &cobra.Command{
		Use:   "rollback TARGET --env ENV [--to DIGEST]",
		Short: "Point an environment back at a digest that was promoted there",
		Long: `Move ENV's tag back to DIGEST, which must hold a verified receipt for ENV
(by default: the most recent such digest other than the current one). The
digest is verified again, and the rollback records a signed receipt of its own.`,
		Example: `  bakery rollback golden-base --env prod
  bakery rollback golden-base --env prod --to sha256:…`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := ro.gateFor(cmd, env)
			if err != nil {
				return err
			}
			res, rerr := g.promoter(cmd.Context(), ro.version).Rollback(cmd.Context(), args[0], env, to)
			if res != nil {
				if err := ro.printResult(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			}
			return rerr
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment to roll back")
	cmd.Flags().StringVar(&to, "to", "", "digest to roll back to (default: the previous one)")
	return cmd
}
