package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/bundle"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
)

func newExport(ro *rootOptions) *cobra.Command {
	var env, out, disk, mode string
	cmd := &cobra.Command{
		Use:   "export TARGET --env ENV --out BUNDLE.tar [--disk FILE]",
		Short: "Write a promoted digest and everything that proves it into a bundle for an air-gapped site",
		Long: `Verify what ENV runs for TARGET (signatures, attestations, ENV's receipt) and
write it as an OCI image layout in a tar: the image by digest with every
platform (or a machine image's record, and with --disk its disk file), its
cosign signature and attestation manifests with every receipt, the public
keys, the policies and policy data in force, and a manifest listing every
object, file and blob by digest, signed with signing.key. Each blob is
written once. The bundle is written next to --out and renamed into place
only when complete.

At the air-gapped site: bakery verify --bundle BUNDLE.tar, then
bakery import BUNDLE.tar --to ENV. docs/bundles.md has the format.`,
		Example: `  bakery export golden-base --env prod --out golden-base.tar
  bakery export golden-ami --env prod --out ami.tar --disk output/disk.raw -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			if env == "" || out == "" {
				return usageError("--env ENV and --out FILE are required")
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			if err := (&selection{envs: []string{env}}).resolve(g.cfg, args[:1]); err != nil {
				return err
			}
			ctx := cmd.Context()
			signer, err := g.signer(ctx)
			if err != nil {
				return err
			}
			p, err := progress.NewPrinter(ctx, cmd.ErrOrStderr(), mode)
			if err != nil {
				return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
			}
			step := progress.LoggedStep(p, args[0], "export "+args[0]+" from "+env+" to "+out)
			res, err := writeBundle(out, func(w io.Writer) (*bundle.ExportResult, error) {
				return bundle.Export(ctx, w, bundle.ExportOptions{Config: g.cfg, Target: args[0], Env: env, Keys: g.verifier.Keys(),
					Signer: signer, Disk: disk, Version: ro.version, Progress: bytesProgress(step)})
			})
			step.Done(err)
			if werr := p.Wait(); err == nil {
				err = werr
			}
			if err != nil {
				return err
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return printExport(cmd.OutOrStdout(), out, res)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment whose digest is exported (required)")
	cmd.Flags().StringVar(&out, "out", "", "bundle file to write (required)")
	cmd.Flags().StringVar(&disk, "disk", "", "a machine image's disk artifact file (its record must name it) to carry too")
	cmd.Flags().StringVar(&mode, "progress", "auto", "progress output: "+strings.Join(progress.Modes, ", "))
	addKeyFlag(cmd, ro)
	return cmd
}

// writeBundle writes a bundle to a temporary file next to out and renames it
// into place only when write succeeded.
func writeBundle(out string, write func(io.Writer) (*bundle.ExportResult, error)) (*bundle.ExportResult, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return nil, failure.New(failure.Config, "--out "+out, err, "check the directory")
	}
	defer os.Remove(f.Name())
	res, err := write(f)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp's 0600: a bundle is public material
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return res, os.Rename(f.Name(), out)
}

// bytesProgress logs the bytes written at every 16 MiB.
func bytesProgress(step *progress.Logged) func(int64) {
	var next int64
	return func(n int64) {
		if n >= next {
			fmt.Fprintf(step, "%s written\n", humanSize(n))
			next = n + 16<<20
		}
	}
}

func printExport(w io.Writer, out string, res *bundle.ExportResult) error {
	fmt.Fprintf(w, "Exported %s (%s) from %s to %s: %d blobs, %s\n", res.Target, res.Digest, res.Environment, out, res.Blobs, humanSize(res.Bytes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range res.Objects {
		fmt.Fprintf(tw, "  %s\t%s\n", o.Role, strings.TrimSpace(o.Digest+"  "+o.Tag))
	}
	counts := map[string]int{}
	for _, f := range res.Files {
		counts[f.Role]++
	}
	for _, role := range []string{bundle.RoleKey, bundle.RolePolicy, bundle.RolePolicyData, bundle.RoleDisk} {
		if counts[role] > 0 {
			fmt.Fprintf(tw, "  %s\t%d file(s)\n", role, counts[role])
		}
	}
	return tw.Flush()
}
