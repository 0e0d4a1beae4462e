package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/bundle"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
)

func newImport(ro *rootOptions) *cobra.Command {
	var to, mode string
	var force bool
	cmd := &cobra.Command{
		Use:   "import BUNDLE.tar --to ENV [--force]",
		Short: "Push a verified bundle into an environment of this (air-gapped) site",
		Long: `Import is a promotion from a file. Verify BUNDLE.tar as bakery verify --bundle
does, with this site's own verification.keys, and decide exactly as
bakery promote --to ENV would here: ENV's own policies (denylists,
promoted_through, max_age_days, ...), this site's current revocation lists
together with the bundle's, revoked bases included. promoted_through counts
a verified receipt for the environment before ENV that the bundle carries
(bound to the source repository it names) or that this site's previous
environment holds for the digest: no environment is skipped. The bundle's
own policies are shown, never used. Then copy its digest, with the signatures and attestations
that verified, into ENV's repository: the digest does not change. The copy
is verified again there; an import receipt is signed with this site's
signing.key when one is configured (without one, none is, and bakery status
shows the environment without a receipt); only then does ENV's tag move.

ENV's tag already holding another digest is refused (exit 7) unless --force,
which needs signing.key: the import receipt records the digest it replaced,
and bakery history shows it. --force settles only that conflict: it never
bypasses a policy or a revocation (exit 5).`,
		Example: `  bakery import golden-base.tar --to prod
  bakery import golden-base.tar --to prod --force -o json   # replace what prod runs`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			if to == "" {
				return usageError("--to ENV is required")
			}
			return ro.runImport(cmd, args[0], to, mode, force)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "environment of this site to import into (required)")
	cmd.Flags().StringVar(&mode, "progress", "auto", "progress output: "+strings.Join(progress.Modes, ", "))
	cmd.Flags().BoolVar(&force, "force", false, "replace another digest under the environment's tag (needs signing.key; recorded in history)")
	addActorFlag(cmd, ro)
	addKeyFlag(cmd, ro)
	return cmd
}

// runImport imports the bundle at path into the environment to.
func (ro *rootOptions) runImport(cmd *cobra.Command, path, to, mode string, force bool) error {
	g, err := ro.gate(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var signer signature.SignerVerifier
	if g.cfg.Signing.Key != "" || g.cfg.Signing.Keyless != nil {
		if signer, err = g.signer(ctx); err != nil {
			return err
		}
	}
	b, err := bundle.Open(path, g.verifier.Keys())
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := progress.NewPrinter(ctx, cmd.ErrOrStderr(), mode)
	if err != nil {
		return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	m := b.Manifest
	done := progress.Step(p, m.Target, fmt.Sprintf("import %s %s into %s", m.Target, m.Digest, to))
	res, err := bundle.Import(ctx, b, bundle.ImportOptions{Config: g.cfg, Env: to, Keys: g.verifier.Keys(),
		Policies: g.engine, Signer: signer, Force: force, Version: ro.version})
	done(err)
	if werr := p.Wait(); err == nil && werr != nil {
		err = werr
	}
	if res != nil && (err == nil || ro.output == "json") {
		if perr := printImport(cmd.OutOrStdout(), ro.output, res); perr != nil {
			return perr
		}
	}
	return err
}

func printImport(w io.Writer, output string, res *bundle.ImportResult) error {
	if output == "json" {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "Imported %s %s into %s: %s\n", res.Target, res.Digest, res.Environment, res.Tag)
	// layers, as promote counts them (countsHelp)
	fmt.Fprintf(w, "  copied to %s: image %s, %s, %d attestation and receipt layers\n", res.Environment,
		yesNo(res.Copy.ImageCopied), plural(res.Copy.Signatures, "signature"), res.Copy.Attestations)
	for _, l := range res.Copy.LeftBehind {
		fmt.Fprintf(w, "  left behind: %s\n", l)
	}
	if res.Replaced != "" {
		fmt.Fprintf(w, "  replaced %s (--force)\n", res.Replaced)
	}
	switch {
	case res.AlreadyImported:
		fmt.Fprintln(w, "  already imported: the tag points at it and it holds this site's receipt")
	case res.Receipt:
		fmt.Fprintln(w, "  import receipt signed with this site's key")
	default:
		fmt.Fprintln(w, "  no import receipt: no signing.key is configured at this site")
	}
	return nil
}
