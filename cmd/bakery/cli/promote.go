package cli

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
)

// gate is what promote, rollback, history, status and policy eval share:
// the config, the trusted keys and the policies, compiled once.
type gate struct {
	cfg    *config.Config
	keys   []attest.TrustedKey
	engine *policies.Engine
}

func (ro *rootOptions) gate(cmd *cobra.Command) (*gate, error) {
	ctx := cmd.Context()
	cfg, err := ro.load(cmd)
	if err != nil {
		return nil, err
	}
	keys, err := attest.NewTrustedKeys(ctx, cfg.Verification.Keys)
	if err != nil {
		return nil, err
	}
	engine, err := policies.Compile(ctx, cfg.Policy.Dirs)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, n := range engine.Names() {
		known[n] = true
	}
	for _, env := range cfg.Environments {
		for _, p := range env.Policies {
			if !known[p] {
				return nil, failure.New(failure.Config, fmt.Sprintf("%s: environment %s", cfg.File, env.Name),
					fmt.Errorf("unknown policy %q", p), "known policies: "+strings.Join(engine.Names(), ", "))
			}
		}
	}
	return &gate{cfg: cfg, keys: keys, engine: engine}, nil
}

// promoter returns a Promoter whose signing key is decrypted in the
// background (scrypt takes a third of a second), while the digest is verified.
// gateFor validates the shared options, requires --env, and builds the gate.
func (ro *rootOptions) gateFor(cmd *cobra.Command, env string) (*gate, error) {
	if err := ro.validate(); err != nil {
		return nil, err
	}
	if env == "" {
		return nil, usageError("--env ENV is required")
	}
	return ro.gate(cmd)
}

func (g *gate) promoter(ctx context.Context, version string) promote.Promoter {
	return promote.New(promote.Options{Config: g.cfg, Keys: g.keys, Policies: g.engine, Version: version,
		Signer: promote.LoadSignerAsync(func() (signature.SignerVerifier, error) {
			return attest.SignerFor(ctx, g.cfg.Signing, config.SigningPassword())
		})})
}

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
		Args: cobra.ExactArgs(1),
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
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := ro.gateFor(cmd, env)
			if err != nil {
				return err
			}
			res, rerr := g.promoter(cmd.Context(), ro.version).(promote.Rollbacker).Rollback(cmd.Context(), args[0], env, to)
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

func newHistory(ro *rootOptions) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:     "history TARGET [--env ENV]",
		Short:   "List the signed receipts of a target, per environment, from the registry",
		Example: `  bakery history golden-base --env prod -o json`,
		Args:    cobra.ExactArgs(1),
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
			entries := []promote.Entry{}
			for i := range g.cfg.Environments {
				e := &g.cfg.Environments[i]
				if env != "" && e.Name != env {
					continue
				}
				h, err := promote.History(cmd.Context(), g.cfg, g.keys, args[0], e)
				if err != nil {
					return err
				}
				entries = append(entries, h...)
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tENVIRONMENT\tACTION\tDIGEST\tSIGNER\tRESULT")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Environment, e.Action, e.Digest, e.KeyID, e.Result)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

func newStatus(ro *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what every environment runs, for every target, from the registry",
		Example: `  bakery status
  bakery status -o json   # for Terraform or dashboards: digests, and AMI ids per region for machine images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			st, err := promote.CurrentStatus(cmd.Context(), g.cfg, g.keys)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tKIND\tENVIRONMENT\tDIGEST\tAMIS\tSINCE\tACTION\tSIGNER\tVERIFIED")
			for _, s := range st {
				if s.Digest == "" {
					fmt.Fprintf(tw, "%s\t\t%s\t-\t\t\t\t\t-\n", s.Target, s.Environment)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", s.Target, s.Kind, s.Environment, s.Digest,
					amiList(s.AMIs), s.Time, s.Action, s.Signer, s.Verified)
			}
			return tw.Flush()
		},
	}
	return cmd
}

func newPolicy(ro *rootOptions) *cobra.Command {
	pol := &cobra.Command{Use: "policy", Short: "Evaluate promotion policies"}
	var env, target string
	eval := &cobra.Command{
		Use:   "eval IMAGE --env ENV",
		Short: "Print the policy decision for promoting IMAGE into ENV, without promoting",
		Example: `  bakery policy eval 127.0.0.1:5000/staging/golden-base:staging --env prod
  bakery policy eval IMAGE@DIGEST --env prod -o json`,
		Args: cobra.ExactArgs(1),
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
			rep, verr := attest.Verify(cmd.Context(), ref, g.keys, attest.RequiredPredicates)
			if rep == nil {
				return verr
			}
			in, err := promote.Input(rep, target, "", g.cfg, e)
			if err != nil {
				return err
			}
			dec, err := g.engine.Evaluate(cmd.Context(), e.Policies, in)
			if err != nil {
				return err
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
			return verr
		},
	}
	eval.Flags().StringVar(&env, "env", "", "environment whose policies apply")
	eval.Flags().StringVar(&target, "target", "", "target name (default: the repository's last path component)")
	pol.AddCommand(eval)
	return pol
}

// amiList prints region=ami pairs in region order, or "-".
func amiList(amis map[string]string) string {
	if len(amis) == 0 {
		return "-"
	}
	regions := make([]string, 0, len(amis))
	for r := range amis {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for i, r := range regions {
		regions[i] = r + "=" + amis[r]
	}
	return strings.Join(regions, ",")
}
