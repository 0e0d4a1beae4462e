package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
)

func newDrift(ro *rootOptions) *cobra.Command {
	var registryOnly bool
	var sel selection
	cmd := &cobra.Command{
		Use:   "drift [TARGET...] [--env ENV]... [--registry-only]",
		Short: "Find every environment that no longer runs what bakery put there, and say how to fix it",
		Long: `Check every target's tag in every environment, and every AMI a machine
image's receipt names, against what bakery recorded:
  - a tag that points at a digest that does not verify, holds no receipt for
    the environment (pushed or tagged outside bakery), or is not the digest
    bakery last put there (moved by hand);
  - a revoked digest still running;
  - an AMI that is gone, disabled or deprecated without a revocation, whose
    bakery.* or configured tags differ, or that an environment's account can
    no longer launch.
Each finding names the command that fixes it. Exit 4 when there is any, so a
scheduled job can alert. AMIs are read with the AWS SDK's usual credentials
and endpoints; --registry-only skips them.`,
		Example: `  bakery drift
  bakery drift app --env prod
  bakery drift -o json | jq -r '.[].fix'
  bakery drift --registry-only   # no AWS credentials at hand`,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, st, partial, err := ro.currentStatus(cmd, &sel, args)
			if err != nil {
				return err
			}
			inspectors := promote.DefaultInspector
			if registryOnly {
				inspectors = nil
			}
			findings, err := promote.Drift(cmd.Context(), g.cfg, st, inspectors)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				if findings == nil {
					findings = []promote.Finding{}
				}
				err = writeJSON(cmd.OutOrStdout(), findings)
			} else {
				err = printDrift(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), findings)
			}
			if err != nil {
				return err
			}
			if partial != nil {
				return partial // exit 6, after what could be read
			}
			if len(findings) == 0 {
				return nil
			}
			return failure.New(failure.Verify, "drift", fmt.Errorf("%d findings: %s %s in %s, and more above", len(findings),
				findings[0].What, findings[0].Target, findings[0].Environment), "run the FIX of each finding")
		},
	}
	cmd.Flags().BoolVar(&registryOnly, "registry-only", false, "check the registry side only; do not read AMIs")
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// printDrift prints a row per finding: in text, short digests (also in
// the fix, which takes a unique prefix) and the fix; with -o wide, the
// detail too, and every digest in full.
func printDrift(w io.Writer, s style, findings []promote.Finding) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintln(w, "no drift: every environment runs what bakery put there")
		return err
	}
	t := newTable("TARGET", "ENVIRONMENT", "DIGEST", "WHAT", "FIX")
	if s.wide {
		t = newTable("TARGET", "ENVIRONMENT", "DIGEST", "WHAT", "DETAIL", "FIX")
	}
	for _, f := range findings {
		if s.wide {
			t.row(f.Target, f.Environment, s.digest(f.Digest), s.alert(f.What), f.Detail, f.Fix)
			continue
		}
		t.row(f.Target, f.Environment, s.digest(f.Digest), s.alert(f.What), s.digestsIn(f.Fix))
	}
	return t.write(w)
}
