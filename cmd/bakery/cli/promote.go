package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/promote"
)

func newPromote(ro *rootOptions) *cobra.Command {
	var req promote.Request
	cmd := &cobra.Command{
		Use:   "promote TARGET --to ENV [--from ENV | --digest DIGEST]",
		Short: "Move a verified digest to the next environment when its policies pass",
		Long: `Promote TARGET's digest into ENV. The digest is what --from's tag (by default
the previous environment's) points at, resolved once, or --digest. bakery then
  1. verifies it as bakery verify does;
  2. evaluates ENV's policies (exit 5 and nothing copied on a denial);
  3. copies the image by digest, with every platform, signature and
     attestation, to ENV's repository (blobs already there are skipped,
     blobs in the same registry are mounted);
  4. fails closed if the source tag moved meanwhile;
  5. verifies the copy, signs a receipt (SLSA verification summary) onto it,
  6. and only then moves ENV's tag.
A failure leaves ENV's tag where it was; re-running completes the promotion.`,
		Example: `  bakery promote golden-base --to staging
  bakery promote golden-base --to prod -o json
  bakery promote golden-base --to staging --digest sha256:…`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			if req.To == "" {
				return usageError("--to ENV is required")
			}
			if req.From != "" && req.Digest != "" {
				return usageError("use --from or --digest, not both")
			}
			req.Target = args[0]
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			res, perr := g.promoter(cmd.Context(), ro.version).Promote(cmd.Context(), req)
			if res != nil {
				if err := ro.printResult(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			}
			return perr
		},
	}
	cmd.Flags().StringVar(&req.To, "to", "", "environment to promote into")
	cmd.Flags().StringVar(&req.From, "from", "", "environment to promote from (default: the previous one)")
	cmd.Flags().StringVar(&req.Digest, "digest", "", "promote this digest (it must be in the source environment's repository)")
	return cmd
}

func (ro *rootOptions) printResult(w io.Writer, res *promote.Result) error {
	if ro.output == "json" {
		return writeJSON(w, res)
	}
	if res.Decision != nil && !res.Decision.Allowed {
		fmt.Fprintf(w, "DENIED %s %s → %s\n", res.Target, res.Digest, res.Environment)
		for _, v := range res.Decision.Violations {
			fmt.Fprintf(w, "  %s: %s\n", v.Policy, v.Message)
		}
		return nil
	}
	if res.AlreadyPromoted {
		fmt.Fprintf(w, "%s %s is already in %s (%s), with a receipt: nothing to do\n", res.Target, res.Digest, res.Environment, res.Tag)
		return nil
	}
	if !res.Receipt {
		return nil
	}
	fmt.Fprintf(w, "%s %s %s → %s\n", res.Action, res.Target, res.Digest, res.Tag)
	if res.Copy != nil {
		fmt.Fprintf(w, "  copied image: %v, signatures added: %d, attestations added: %d\n", res.Copy.ImageCopied, res.Copy.Signatures, res.Copy.Attestations)
	}
	if len(res.AMIs) > 0 {
		fmt.Fprintf(w, "  AMIs: %s\n", amiList(res.AMIs))
	}
	fmt.Fprintln(w, "  receipt signed")
	return nil
}
