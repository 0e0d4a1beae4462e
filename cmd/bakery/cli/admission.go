package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/deploy/admission"
)

type admissionOptions struct {
	env     string
	formats []string
	out     string
}

func newAdmission(ro *rootOptions) *cobra.Command {
	o := &admissionOptions{}
	cmd := &cobra.Command{
		Use:   "admission --env ENV [--format policy-controller|kyverno]... [--out DIR]",
		Short: "Write cluster admission policies that admit only what ENV's receipts name",
		Long: `Write the admission policies of ENV: a cluster running them admits an image of
a container target only by digest, when the digest holds a bakery receipt
(the SLSA verification summary attestation) for ENV, signed by one of the
trusted keys (verification.keys, or --key), bound to ENV's repository and
the target, and not revoked in the verified revocation list. A tag is
refused.

  --format policy-controller   sigstore policy-controller ClusterImagePolicy,
                               one per target (receipts checked at admission)
  --format kyverno             a Kyverno ClusterPolicy (receipts checked at
                               admission, and the digests bakery found
                               receipted when it wrote the file: write it
                               again after each promotion)

With --out DIR, each format goes to DIR/ENV-FORMAT.yaml, written whole
(temporary file, then rename) and only when it changes; without it, the
policies go to standard output. bakery revoke --write-admission DIR (and
--restore) rewrites the files in DIR, so that a cluster learns of a
revocation through the same Git path as a deployment. docs/deploy.md says
what admission can and cannot see.`,
		Example: `  # both formats for prod, into the GitOps repository
  bakery admission --env prod --out deploy/admission

  # one format, to standard output
  bakery admission --env staging --format policy-controller | kubectl apply -f -

  # judge an image as the cluster would, without a cluster
  policy-tester -policy deploy/admission/prod-policy-controller.yaml -image REPO@sha256:…`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, ro) },
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment whose receipts the policies require")
	f.StringSliceVar(&o.formats, "format", nil, "policy format: "+strings.Join(admission.FormatNames(), ", ")+" (repeatable; default all)")
	f.StringVar(&o.out, "out", "", "write each format to DIR/ENV-FORMAT.yaml instead of standard output")
	addKeyFlag(cmd, ro)
	return cmd
}

// run writes (or prints) the policies of o.env in o.formats.
func (o *admissionOptions) run(cmd *cobra.Command, ro *rootOptions) error {
	if o.out == "" && ro.output == "json" {
		return usageError("admission writes YAML policies: -o json describes the files that --out DIR writes")
	}
	if o.env == "" {
		return usageError("--env ENV is required: the environment whose receipts a cluster requires")
	}
	var formats []admission.Format
	for _, n := range o.formats {
		f, err := admission.Lookup(n)
		if err != nil {
			return err
		}
		formats = append(formats, f)
	}
	if len(formats) == 0 {
		for _, n := range admission.FormatNames() {
			formats = append(formats, admission.Formats[n])
		}
	}
	g, err := ro.gate(cmd)
	if err != nil {
		return err
	}
	p, err := admission.Load(cmd.Context(), g.cfg, g.verifier, o.env)
	if err != nil {
		return err
	}
	if o.out == "" {
		for i, f := range formats {
			body, err := f.Render(p)
			if err != nil {
				return err
			}
			if i > 0 { // one YAML stream: kubectl apply -f - takes both
				body = append([]byte("---\n"), body...)
			}
			if _, err := cmd.OutOrStdout().Write(body); err != nil {
				return err
			}
		}
		return nil
	}
	changed, err := admission.Write(o.out, p, formats)
	if err != nil {
		return err
	}
	return printAdmission(cmd, ro, o.out, p, formats, changed)
}

// admissionFile is one written policy file, as -o json prints it.
type admissionFile struct {
	Environment string `json:"environment"`
	Format      string `json:"format"`
	Path        string `json:"path"`
	Changed     bool   `json:"changed"`
	Revoked     int    `json:"revoked"`
}

func printAdmission(cmd *cobra.Command, ro *rootOptions, dir string, p admission.Policy, formats []admission.Format, changed []string) error {
	var files []admissionFile
	for _, f := range formats {
		path := dir + "/" + admission.FileName(p.Environment, f)
		was := false
		for _, c := range changed {
			was = was || strings.HasSuffix(c, admission.FileName(p.Environment, f))
		}
		files = append(files, admissionFile{Environment: p.Environment, Format: f.Name(), Path: path, Changed: was, Revoked: len(p.Revoked)})
	}
	if ro.output == "json" {
		return writeJSON(cmd.OutOrStdout(), files)
	}
	for _, f := range files {
		state := "unchanged"
		if f.Changed {
			state = "written"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s admission policy for %s %s (%d revoked digests)\n", f.Path, f.Format, f.Environment, state, f.Revoked)
	}
	return nil
}

// admissionFlag adds --write-admission DIR to a command that moves digests
// (promote, rollback): Kyverno's policy lists the receipted digests, so it is
// written again after each step.
func admissionFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "write-admission", "",
		"then rewrite the destination's admission policies in this directory (bakery admission --out DIR)")
}

// rewriteAdmission rewrites the admission policies in dir of envs, the
// environments digests were just moved into, and says which files changed
// on stderr (standard output stays the command's result).
func rewriteAdmission(cmd *cobra.Command, ro *rootOptions, dir string, envs []string) error {
	if dir == "" || len(envs) == 0 {
		return nil
	}
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	changed, err := admission.Rewrite(cmd.Context(), s.cfg, s.verifier, dir, envs...)
	for _, f := range changed {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: admission policy rewritten\n", f)
	}
	return err
}
