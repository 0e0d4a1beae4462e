package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// verifyOptions are shared by verify, sbom and inspect: they all resolve the
// image once and verify it before showing anything.
type verifyOptions struct {
	*rootOptions
	keys      []string
	allowHTTP bool
}

func (o *verifyOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "trusted public key file or KMS URI (repeatable; default verification.keys)")
	cmd.Flags().BoolVar(&o.allowHTTP, "allow-http-registry", false, "talk plain HTTP to the registry (loopback registries always are)")
}

// resolveAndVerify resolves ref to a digest exactly once and verifies that digest.
func (o *verifyOptions) resolveAndVerify(cmd *cobra.Command, ref string) (*attest.Report, error) {
	ctx := cmd.Context()
	keys := o.keys
	if len(keys) == 0 {
		var err error
		if keys, err = config.VerificationKeys(config.Options{File: o.configFile, Flags: cmd.Flags()}); err != nil {
			return nil, err
		}
	}
	trusted, err := attest.NewTrustedKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	digest, err := attest.Resolve(ctx, ref, o.nameOptions()...)
	if err != nil {
		return nil, err
	}
	return attest.Verify(ctx, digest, trusted, attest.RequiredPredicates)
}

func (o *verifyOptions) nameOptions() []name.Option {
	if o.allowHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func newVerify(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "verify IMAGE",
		Short: "Verify an image's signatures, SBOMs and provenance",
		Long: `Resolve IMAGE (a tag is resolved once; everything after uses that digest)
and check that:
  - a trusted key signed exactly this digest;
  - every attestation attached to it is signed by a trusted key, is about
    this digest, and carries the predicate type it claims;
  - SPDX and CycloneDX SBOMs and SLSA v1 provenance are among them.

Exit code 4 means verification failed; 6 means the registry could not be
reached and 2 a bad reference, key or config: in those cases nothing was checked.`,
		Example: `  bakery verify 127.0.0.1:5000/dev/golden-base:dev --key cosign.pub
  bakery verify registry.example/prod/web@sha256:… -o json

  # the same checks with the stock cosign CLI
  cosign verify --key cosign.pub --insecure-ignore-tlog IMAGE@DIGEST
  cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type spdxjson IMAGE@DIGEST`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			rep, err := o.resolveAndVerify(cmd, args[0])
			if rep != nil {
				if perr := o.printReport(cmd.OutOrStdout(), rep); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *verifyOptions) printReport(w io.Writer, rep *attest.Report) error {
	if o.output == "json" {
		return writeJSON(w, rep)
	}
	status := "Verified"
	if !rep.Verified {
		status = "FAILED"
	}
	fmt.Fprintf(w, "%s %s\n", status, rep.Reference)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range rep.Signatures {
		fmt.Fprintf(tw, "  signature\tkey %s\t%s\n", s.KeyID, s.SignedAt)
	}
	for _, a := range rep.Attestations {
		fmt.Fprintf(tw, "  %s\tkey %s\t%s\n", attest.PredicateName(a.PredicateType), a.KeyID, a.SignedAt)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(tw, "  problem\t%s\n", p)
	}
	for _, i := range rep.Ignored {
		name := attest.PredicateName(i.PredicateType)
		if name == "" {
			name = "attestation"
		}
		fmt.Fprintf(tw, "  ignored\t%s %s\t%s\n", name, i.Layer, i.Reason)
	}
	return tw.Flush()
}

func newSBOM(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	var format, platform string
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "Print an image's verified, attested SBOM",
		Long: `Verify IMAGE as bakery verify does, then print the SBOM attested for one of
its platforms: the attestation's predicate exactly as signed, or a table.`,
		Example: `  bakery sbom 127.0.0.1:5000/dev/golden-base:dev --key cosign.pub --format table
  bakery sbom IMAGE@DIGEST --format cyclonedx-json --platform linux/arm64 > bom.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			pt := attest.PredicateSPDX
			switch format {
			case "spdx-json", "table":
			case "cyclonedx-json":
				pt = attest.PredicateCycloneDX
			default:
				return usageError("--format %q: use spdx-json, cyclonedx-json or table", format)
			}
			rep, err := o.resolveAndVerify(cmd, args[0])
			if err != nil {
				return err
			}
			ref, _ := name.NewDigest(rep.Reference, o.nameOptions()...)
			predicate, err := selectSBOM(cmd.Context(), ref, rep, pt, platform)
			if err != nil {
				return err
			}
			if format == "table" {
				return attest.PrintPackageTable(cmd.OutOrStdout(), predicate)
			}
			_, err = cmd.OutOrStdout().Write(append(predicate, '\n'))
			return err
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&format, "format", "spdx-json", "spdx-json, cyclonedx-json or table")
	cmd.Flags().StringVar(&platform, "platform", "", "platform of a multi-platform image (default: the first)")
	return cmd
}

// selectSBOM picks the verified attestation of type pt for platform.
func selectSBOM(ctx context.Context, ref name.Digest, rep *attest.Report, pt, platform string) (json.RawMessage, error) {
	plats, err := attest.Platforms(ctx, ref)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range plats {
		names = append(names, p.Platform)
		if platform != "" && p.Platform != platform {
			continue
		}
		for _, a := range rep.Attestations {
			if a.PredicateType == pt && slices.ContainsFunc(a.Subjects, func(s string) bool { return strings.HasSuffix(s, "@"+p.Ref.DigestStr()) }) {
				return a.Predicate, nil
			}
		}
		if platform != "" {
			break
		}
	}
	return nil, failure.New(failure.Verify, ref.String(), fmt.Errorf("no verified %s SBOM for platform %q", attest.PredicateName(pt), platform),
		"platforms: "+strings.Join(names, ", "))
}

func newInspect(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's signatures, attestations and provenance, for review",
		Example: `  bakery inspect 127.0.0.1:5000/dev/golden-base:dev --key cosign.pub
  bakery inspect IMAGE@DIGEST -o json | jq .provenance`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			rep, verr := o.resolveAndVerify(cmd, args[0])
			if rep == nil {
				return verr
			}
			var prov *attest.Provenance
			for _, a := range rep.Attestations {
				if a.PredicateType == attest.PredicateSLSAv1 {
					prov = &attest.Provenance{}
					if err := json.Unmarshal(a.Predicate, prov); err != nil {
						return failure.New(failure.Verify, rep.Reference, fmt.Errorf("provenance: %w", err), "")
					}
				}
			}
			if o.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), struct {
					*attest.Report
					Provenance *attest.Provenance `json:"provenance,omitempty"`
				}{rep, prov}); err != nil {
					return err
				}
				return verr
			}
			if err := o.printReport(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if prov != nil {
				printProvenance(cmd.OutOrStdout(), prov)
			}
			return verr
		},
	}
	o.addFlags(cmd)
	return cmd
}

func printProvenance(w io.Writer, p *attest.Provenance) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Provenance")
	fmt.Fprintf(tw, "  builder\t%s\n", p.RunDetails.Builder.ID)
	fmt.Fprintf(tw, "  build type\t%s\n", p.BuildDefinition.BuildType)
	if m := p.RunDetails.Metadata; m.StartedOn != nil && m.FinishedOn != nil {
		fmt.Fprintf(tw, "  built\t%s .. %s\n", m.StartedOn.Format("2006-01-02T15:04:05Z"), m.FinishedOn.Format("2006-01-02T15:04:05Z"))
	}
	if src, ok := p.BuildDefinition.ExternalParameters["source"].(map[string]any); ok {
		uri, _ := src["uri"].(string)
		if uri == "" {
			uri = "(no remote)"
		}
		fmt.Fprintf(tw, "  source\t%s commit %v, dirty: %v\n", uri, src["commit"], src["dirty"])
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		fmt.Fprintf(tw, "  dependency\t%s sha256:%s\n", d.URI, d.Digest["sha256"])
	}
	tw.Flush()
}
