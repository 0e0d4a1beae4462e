package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/bundle"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
	"github.com/bakeryhq/bakery/vuln"
)

// verifyOptions are shared by verify, sbom and inspect: they all resolve the
// image once and verify it before showing anything.
type verifyOptions struct {
	*rootOptions
	keys      []string
	allowHTTP bool
	// target is the target whose test results count (--target; default
	// the repository's last path component, or a bundle's target).
	target string
	// cfg and verifier are what resolveAndVerify used; cfg is nil when
	// there is no config file.
	cfg      *config.Config
	verifier *attest.Verifier
	// sup are bakery.yaml's VEX files and waivers, checked with the trusted
	// keys (nil without a config file: only the VEX attached counts).
	sup *vuln.Suppressions
}

// trusted keeps the Verifier the command uses, and loads the suppressions
// the vulnerability evidence is judged with.
func (o *verifyOptions) trusted(ctx context.Context, verifier *attest.Verifier) {
	o.verifier = verifier
	if o.cfg != nil {
		o.sup = vuln.NewSuppressions(ctx, o.cfg, verifier.Keys())
	}
}

func (o *verifyOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "trusted public key file or KMS URI (repeatable; default verification.keys)")
	cmd.Flags().BoolVar(&o.allowHTTP, "allow-http-registry", false, "talk plain HTTP to the registry (loopback registries always are)")
}

// resolveAndVerify resolves ref to a digest exactly once and verifies that digest.
func (o *verifyOptions) resolveAndVerify(cmd *cobra.Command, ref string) (*attest.Report, error) {
	var s *site
	opts := config.Options{File: o.configFile, Flags: cmd.Flags()}
	if (len(o.keys) == 0 || o.configFile != "") && config.Present(opts) {
		// The config's registry settings (retries, timeouts) apply too.
		cfg, err := o.load(cmd)
		if err != nil {
			return nil, err
		}
		o.bound(cmd, cfg)
		o.cfg, s = cfg, o.newSite(cfg)
	}
	verifier, err := o.trust(cmd, s)
	if err != nil {
		return nil, err
	}
	o.trusted(cmd.Context(), verifier)
	digest, err := attest.Resolve(cmd.Context(), ref, o.nameOptions()...)
	if err != nil {
		return nil, err
	}
	return verifier.Verify(cmd.Context(), digest)
}

// trust is the Verifier of --key, else of the site's verification.keys, else
// (no config file) of the keys config.VerificationKeys finds.
func (o *verifyOptions) trust(cmd *cobra.Command, s *site) (*attest.Verifier, error) {
	if len(o.keys) > 0 {
		return attest.NewVerifier(cmd.Context(), attest.FromFlag, o.keys)
	}
	if s != nil {
		return s.trust(cmd.Context())
	}
	keys, err := config.VerificationKeys(config.Options{File: o.configFile, Flags: cmd.Flags()})
	if err != nil {
		return nil, err
	}
	return attest.NewVerifier(cmd.Context(), attest.FromConfig, keys)
}

func (o *verifyOptions) nameOptions() []name.Option {
	if o.allowHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// verifyLong is verify --help.
const verifyLong = `Resolve IMAGE (a tag is resolved once; everything after uses that digest)
and check that:
  - a trusted key signed exactly this digest;
  - every attestation attached to it is signed by a trusted key, is about
    this digest, and carries the predicate type it claims;
  - SPDX and CycloneDX SBOMs and SLSA v1 provenance are among them.

Attestations that do not pass these checks are listed as ignored and count
for nothing, as with cosign; each platform of an index needs its own SBOMs.

With a bakery.yaml, a digest on its environments' signed revocation list
(bakery revoke) fails verification too, with the reason.

With --env ENV (and bakery.yaml), also check that the digest holds a
verified receipt for the target (--target, default the repository's last
path component) in ENV, and whether ENV's tag points at it (DRIFT if not).

With --bundle BUNDLE.tar (bakery export), verify the bundle with no network
at all: its tar and every blob against its digest, its manifest's signature
and contents, the signatures and every platform's attestations, a verified
receipt binding the target, ENV (default the bundle's) and the digest, and
ENV's policy decision. Trust comes only from this site's keys (--key or
verification.keys), never from the keys in the bundle. The bundle's policies
decide only when their digest is the one the receipt records; otherwise
this site's do (shipped plus policy.dirs). docs/bundles.md has the details.

Exit code 4 means verification failed (for a bundle: also truncated or
tampered, with what is wrong), 5 that ENV's policies deny a bundle; 6 means
the registry could not be reached and 2 a bad reference, key or config: in
those cases nothing was checked.

Receipts are listed by environment and action, SBOMs by platform, test
results by suite, platform and environment with the tests that failed: those
that count for the target (--target, default the repository's last path
component), the newest of each, as the tested and tested_in policies count
them; the last line counts them. Vulnerability scans are listed by the one
that counts per platform (the newest database's, then the newest) with its
summary, then each finding a signed VEX statement or a waiver suppresses,
with what suppresses it, and each VEX document that counted for nothing
(docs/vulnerabilities.md).

` + countsHelp

func newVerify(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	var env, bundlePath string
	cmd := &cobra.Command{
		Use:   "verify IMAGE [--env ENV] | verify --bundle BUNDLE.tar [--env ENV]",
		Short: "Verify an image's signatures, SBOMs and provenance",
		Long:  verifyLong,
		Example: `  bakery verify 127.0.0.1:5000/dev/golden-base:dev --key cosign.pub
  bakery verify registry.example/prod/web@sha256:… -o json
  bakery verify registry.example/prod/web@sha256:… --env prod   # and prod's receipt, and drift

  # the same checks with the stock cosign CLI
  cosign verify --key cosign.pub --insecure-ignore-tlog IMAGE@DIGEST
  cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type spdxjson IMAGE@DIGEST

  # at an air-gapped site, before bakery import
  bakery verify --bundle golden-base.tar --key org.pub --env prod`,
		Args: func(cmd *cobra.Command, args []string) error {
			if bundlePath != "" {
				return exactArgs(0)(cmd, args)
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if bundlePath != "" {
				return o.verifyBundle(cmd, bundlePath, env)
			}
			rep, verr := o.resolveAndVerify(cmd, args[0])
			if rep == nil {
				return verr
			}
			v, err := o.verdict(cmd, rep, verr)
			if err != nil {
				return err
			}
			if err := o.printReport(cmd.OutOrStdout(), rep, v); err != nil {
				return err
			}
			if verr != nil {
				return verr
			}
			if err := v.Err(rep.Reference); err != nil {
				return err
			}
			if env == "" {
				return nil
			}
			return o.checkEnv(cmd, rep, env)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&env, "env", "", "also require a verified receipt for this environment, and report drift")
	cmd.Flags().StringVar(&o.target, "target", "", "target whose receipts (--env) and test results count (default: the repository's last path component)")
	cmd.Flags().StringVar(&bundlePath, "bundle", "", "verify this bundle (bakery export) offline instead of an IMAGE")
	return cmd
}

// verifyBundle verifies a bundle with this site's keys and no network. With
// a bakery.yaml the decision is the site's gate for ENV, as import makes it,
// minus what only the site's registry can tell (listed as not checked).
func (o *verifyOptions) verifyBundle(cmd *cobra.Command, path, env string) error {
	var g *gate
	if config.Present(config.Options{File: o.configFile, Flags: cmd.Flags()}) {
		var err error
		if g, err = o.gate(cmd); err != nil {
			return err
		}
		o.cfg = g.cfg
	}
	var s *site
	if g != nil {
		s = g.site
	}
	verifier, err := o.trust(cmd, s)
	if err != nil {
		return err
	}
	o.trusted(cmd.Context(), verifier)
	b, err := bundle.Open(path, verifier.Keys())
	if err != nil {
		return err
	}
	defer b.Close()
	vo := bundle.VerifyOptions{Keys: verifier.Keys(), Env: env, Config: o.cfg}
	if g != nil {
		vo.Site = promote.New(promote.Options{Config: g.cfg, Verifier: verifier, Policies: g.engine})
		vo.Offline = true
	}
	res, err := bundle.Verify(cmd.Context(), b, vo)
	if o.output == "json" {
		if perr := writeJSON(cmd.OutOrStdout(), bundleJSON(res)); perr != nil {
			return perr
		}
		return err
	}
	if res.Report != nil {
		if o.target == "" {
			o.target = res.Target
		}
		v := promote.Verdict{Verified: res.Report.Verified && res.Revoked == nil, Revocation: res.Revoked}
		if perr := o.printReport(cmd.OutOrStdout(), res.Report, v); perr != nil {
			return perr
		}
	}
	printBundle(cmd.OutOrStdout(), o.style(cmd.OutOrStdout()), res)
	return err
}

// bundleJSON is verify --bundle's JSON: the bundle's verification and the
// test evidence its image's attestations hold for its target, as verify
// shows it (promote.Tests).
func bundleJSON(res *bundle.Result) any {
	if res == nil || res.Report == nil {
		return res
	}
	return struct {
		*bundle.Result
		Tests []promote.TestEvidence `json:"tests"`
	}{res, promote.Tests(res.Report, res.Target)}
}

// printBundle prints what verifying a bundle found, after its image's
// report.
func printBundle(w io.Writer, s style, res *bundle.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  bundle\t%s: %s %s from %s, manifest signed by key %s\n", res.Bundle, res.Target, s.digest(res.Digest), res.Source, res.SignedBy)
	for _, k := range res.Keys {
		trust := "not trusted here (ignored)"
		if k.Trusted {
			trust = "trusted here"
		}
		fmt.Fprintf(tw, "  bundle key\t%s\t%s\n", k.KeyID, trust)
	}
	for _, r := range res.Receipts {
		fmt.Fprintf(tw, "  receipt\t%s %s\tkey %s\t%s\n", r.Environment, r.Action, r.KeyID, s.ago(r.Time))
	}
	for _, ign := range res.IgnoredRevocations {
		fmt.Fprintf(tw, "  ignored\trevocation list %s\n", ign)
	}
	if e := res.Revoked; e != nil {
		fmt.Fprintf(tw, "  %s\t%s\n", s.alert(textRevoked), s.digestsIn(e.Describe()))
	}
	if d := res.Decision; d != nil {
		verdict := "allowed"
		if !d.Allowed {
			verdict = s.alert("DENIED")
		}
		fmt.Fprintf(tw, "  policy\t%s: %s by the %s policies (%s), %s policy data\n", res.Environment, verdict, res.Policies, s.digest(d.Digest), res.PolicyData)
		for _, v := range d.Violations {
			fmt.Fprintf(tw, "  violation\t%s: %s\n", v.Policy, v.Message)
		}
	}
	for _, u := range res.Unchecked {
		fmt.Fprintf(tw, "  not checked offline\t%s (bakery import checks it)\n", u)
	}
	tw.Flush()
}

// verdict is the one verdict on a verified report: with a bakery.yaml, under
// its environments' revocation lists, applied to the digest's lineage;
// without one no list can be read, and stderr says so.
func (o *verifyOptions) verdict(cmd *cobra.Command, rep *attest.Report, verr error) (promote.Verdict, error) {
	if o.cfg == nil {
		if verr == nil { // it would read as verified: say what was not checked
			fmt.Fprintln(cmd.ErrOrStderr(), "warning: no bakery.yaml, so no revocation list was checked: pass --config to check the environments' lists")
		}
		return promote.Assess(cmd.Context(), nil, rep, verr)
	}
	lin, err := revoke.LoadLineage(cmd.Context(), o.cfg, o.verifier)
	if err != nil {
		return promote.Verdict{}, err
	}
	for _, ign := range lin.Set().Ignored {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: ignored a revocation list: %s\n", ign)
	}
	return promote.Assess(cmd.Context(), lin, rep, verr)
}

// checkEnv reports whether the verified digest holds a receipt for target in
// env and whether env's tag points at it; no receipt is a verification
// failure.
func (o *verifyOptions) checkEnv(cmd *cobra.Command, rep *attest.Report, env string) error {
	cfg, err := o.load(cmd)
	if err != nil {
		return err
	}
	e, _, err := cfg.LookupEnvironment(env)
	if err != nil {
		return err
	}
	target := o.targetOf(rep)
	if _, err := cfg.LookupTarget(target); err != nil {
		return err
	}
	has := receipt.Has(rep, receipt.Bind(cfg, target), e.Name)
	verifier, err := o.newSite(cfg).trust(cmd.Context())
	if err != nil {
		return err
	}
	st, err := promote.StatusOf(cmd.Context(), cfg, verifier, target, e.Name)
	if err != nil {
		return err
	}
	if o.output != "json" {
		s, drift := o.style(cmd.OutOrStdout()), ""
		if st.Digest != rep.Digest.String() || st.Drift {
			drift = " " + s.alert(textDrift)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "  receipt for %s in %s: %s; %s's tag: %s%s\n", target, e.Name, yesNo(has), e.Name, s.digest(st.Digest), drift)
	}
	if !has {
		return failure.New(failure.Verify, rep.Reference, fmt.Errorf("no verified receipt for %s in %s", target, e.Name),
			"this digest was not promoted there by bakery; see bakery history")
	}
	return nil
}

// targetOf is the target whose receipts and test results count for rep:
// --target, else the repository's last path component.
func (o *verifyOptions) targetOf(rep *attest.Report) string {
	if o.target != "" {
		return o.target
	}
	return path.Base(strings.SplitN(rep.Reference, "@", 2)[0])
}

// verdictJSON is a report as every command prints it in JSON: the
// verification with the one verdict (verified false when revoked, and why),
// and the test evidence that counts (promote.Tests).
type verdictJSON struct {
	*attest.Report
	// The verdict's fields, shallower than the report's own "verified".
	Verified   bool                   `json:"verified"`
	Revocation *revoke.Entry          `json:"revocation,omitempty"`
	Problem    string                 `json:"problem,omitempty"`
	Target     string                 `json:"target"`
	Tests      []promote.TestEvidence `json:"tests"`
	// Vulnerabilities is the digest's vulnerability evidence for the
	// target (vuln.Suppressions.Evidence): the scan that counts per
	// platform, each finding judged; IgnoredVEX the VEX documents that
	// counted for nothing, and why.
	Vulnerabilities []vuln.Evidence   `json:"vulnerabilities"`
	IgnoredVEX      []vuln.IgnoredVEX `json:"ignoredVex,omitempty"`
}

func (o *verifyOptions) jsonOf(rep *attest.Report, v promote.Verdict) verdictJSON {
	target := o.targetOf(rep)
	ev, ignored := o.sup.Evidence(rep, target, time.Now())
	return verdictJSON{Report: rep, Verified: v.Verified, Revocation: v.Revocation, Problem: v.Problem,
		Target: target, Tests: promote.Tests(rep, target), Vulnerabilities: ev, IgnoredVEX: ignored}
}

func (o *verifyOptions) printReport(w io.Writer, rep *attest.Report, v promote.Verdict) error {
	if o.output == "json" {
		return writeJSON(w, o.jsonOf(rep, v))
	}
	s := o.style(w)
	word := v.Word()
	if !v.Verified {
		word = s.alert(word)
	}
	fmt.Fprintf(w, "%s %s\n", word, s.ref(rep.Reference))
	t := &table{}
	if e := v.Revocation; e != nil {
		t.row("  "+s.alert("revoked"), s.digestsIn(e.Describe()))
	}
	for _, sig := range rep.Signatures {
		t.row("  signature", "", "key "+sig.KeyID, s.ago(sig.SignedAt))
	}
	tests := promote.Tests(rep, o.targetOf(rep))
	attestationRows(t, s, rep, tests)
	ev, ignoredVEX := o.sup.Evidence(rep, o.targetOf(rep), time.Now())
	vulnRows(t, s, ev, ignoredVEX)
	for _, p := range rep.Problems {
		t.row("  "+s.alert("problem"), s.digestsIn(p))
	}
	if v.Problem != "" && v.Revocation == nil && len(rep.Problems) == 0 {
		t.row("  "+s.alert("problem"), s.digestsIn(v.Problem))
	}
	for _, i := range rep.Ignored {
		name := attest.PredicateName(i.PredicateType)
		if name == "" {
			name = "attestation"
		}
		t.row("  ignored", name+" "+s.digest(i.Layer.String()), i.Reason)
	}
	if err := t.write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "  %s\n", counted(rep, len(tests)))
	return err
}

// counted is a report's counts in bakery's one sense (countsHelp); test
// results (the evidence that counts, promote.Tests) are counted apart,
// when there are any.
func counted(rep *attest.Report, tests int) string {
	types := make([]string, len(rep.Attestations))
	receipts := 0
	for i, a := range rep.Attestations {
		types[i] = a.PredicateType
		if a.PredicateType == receipt.PredicateVSA {
			receipts++
		}
	}
	out := fmt.Sprintf("%s, %s, %s", plural(countAttestations(types), "attestation"), plural(receipts, "receipt"),
		plural(len(rep.Signatures), "signature"))
	if tests > 0 {
		out += ", " + plural(tests, "test result")
	}
	return out
}

// testRow names a test result that counts: suite, platform and the
// environment it ran against, verdict, and the tests that failed.
func testRow(s style, e promote.TestEvidence) string {
	where := e.Platform
	if e.Environment != "" {
		where = strings.TrimSpace(where + " in " + e.Environment)
	}
	out := strings.Join(strings.Fields(e.Suite+" "+where), " ") + " " + testVerdict(s, e.Result)
	if len(e.Failed) > 0 {
		out += " (failed: " + strings.Join(e.Failed, ", ") + ")"
	}
	return out
}

// attestationRows lists a report's attestations by what they are: each
// platform's SBOMs with the platform named, the provenance, the test
// evidence (tests: superseded results and those not bound to the target
// are not evidence, and not listed) and each receipt by environment and
// action, in that order.
func attestationRows(t *table, s style, rep *attest.Report, tests []promote.TestEvidence) {
	platformOf := map[string]string{}
	for _, p := range rep.Platforms {
		platformOf[p.Digest] = p.Platform
	}
	var sboms, prov, testRows, receipts, other [][]string
	for _, e := range tests {
		testRows = append(testRows, []string{"  test", testRow(s, e), "key " + e.KeyID, s.ago(e.Finished)})
	}
	for _, a := range rep.Attestations {
		key, when := "key "+a.KeyID, s.ago(a.SignedAt)
		switch a.PredicateType {
		case attest.PredicateSPDX, attest.PredicateCycloneDX:
			sboms = append(sboms, []string{"  sbom", strings.TrimSpace(attest.PredicateName(a.PredicateType) + " " + subjectPlatform(a, platformOf)), key, when})
		case attest.PredicateSLSAv1:
			prov = append(prov, []string{"  provenance", "slsa v1", key, when})
		case imagetest.PredicateType, vuln.PredicateType: // their evidence is listed apart
		default:
			if r, ok := receipt.Of(a); ok {
				at := r.TimeVerified.UTC().Format(revoke.TimeFormat) // fixed width: sorts as a string
				receipts = append(receipts, []string{"  receipt", r.Bakery.Environment + " " + r.Bakery.Action, key, s.ago(at), at})
				continue
			}
			other = append(other, []string{"  attestation", a.PredicateType, key, when})
		}
	}
	byPlatform := func(row []string) string { typ, plat, _ := strings.Cut(row[1], " "); return plat + " " + typ }
	sort.SliceStable(sboms, func(i, j int) bool { return byPlatform(sboms[i]) < byPlatform(sboms[j]) })
	sort.SliceStable(receipts, func(i, j int) bool { return receipts[i][4] < receipts[j][4] }) // oldest first
	for _, r := range slices.Concat(sboms, prov, testRows, receipts, other) {
		t.row(r[:4]...)
	}
}

// vulnRows lists a digest's vulnerability evidence: a row per platform's
// scan that counts (the one summary, the database's build time), then a
// row per suppressed finding saying what suppresses it and per expired
// waiver, and each VEX document that counted for nothing: never silent.
func vulnRows(t *table, s style, ev []vuln.Evidence, ignored []vuln.IgnoredVEX) {
	for _, e := range ev {
		where := e.Platform
		if e.Environment != "" {
			where = strings.TrimSpace(where + " in " + e.Environment)
		}
		what := vuln.Summary([]vuln.Evidence{e})
		if where != "" {
			what = where + ": " + what
		}
		t.row("  vulns", what+", database built "+s.ago(e.DBBuilt), "key "+e.KeyID, s.ago(e.Finished))
		for _, f := range e.Findings {
			switch {
			case f.Suppressed != nil:
				t.row("  suppressed", f.ID+" "+f.Package+" "+dash(e.Platform), f.Suppressed.String())
			case f.Note != "":
				t.row("  "+s.alert("unsuppressed"), f.ID+" "+f.Package+" "+dash(e.Platform), f.Note)
			}
		}
	}
	for _, i := range ignored {
		t.row("  ignored", "VEX "+i.Source, i.Reason)
	}
}

// subjectPlatform names the platform an SBOM is about: the platform image
// among its subjects ("" for a single image, which has no other).
func subjectPlatform(a attest.AttestationInfo, platformOf map[string]string) string {
	for _, subj := range a.Subjects {
		if _, d, ok := strings.Cut(subj, "@"); ok && platformOf[d] != "" {
			return platformOf[d]
		}
	}
	return ""
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
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if err := o.noJSON("sbom", "it prints the SBOM itself: --format spdx-json or cyclonedx-json is JSON"); err != nil {
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
			if err := platformSyntax(platform); err != nil {
				return err
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
				return sbom.PrintPackageTable(cmd.OutOrStdout(), predicate)
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

// platformSyntax refuses a --platform that is not os/arch[/variant].
func platformSyntax(platform string) error {
	if platform == "" {
		return nil
	}
	parts := strings.Split(platform, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return failure.New(failure.Config, "--platform "+platform, errors.New("not a platform"),
			"write it as os/arch or os/arch/variant, for example linux/arm64")
	}
	return nil
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
	if platform != "" && !slices.Contains(names, platform) {
		return nil, failure.New(failure.Config, "--platform "+platform, fmt.Errorf("%s has no such platform", ref),
			"pass one of its platforms: "+strings.Join(names, ", "))
	}
	return nil, failure.New(failure.Verify, ref.String(), fmt.Errorf("no verified %s SBOM for platform %q", attest.PredicateName(pt), platform),
		"platforms: "+strings.Join(names, ", "))
}

func newInspect(ro *rootOptions) *cobra.Command {
	o := &verifyOptions{rootOptions: ro}
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's signatures, attestations, provenance and test results, for review",
		Example: `  bakery inspect 127.0.0.1:5000/dev/golden-base:dev --key cosign.pub
  bakery inspect IMAGE@DIGEST -o json | jq .provenance`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			rep, verr := o.resolveAndVerify(cmd, args[0])
			if rep == nil {
				return verr
			}
			v, err := o.verdict(cmd, rep, verr)
			if err != nil {
				return err
			}
			prov, err := attest.ProvenanceOf(rep)
			if err != nil {
				return err
			}
			if verr == nil {
				verr = v.Err(rep.Reference)
			}
			if o.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), struct {
					verdictJSON
					Provenance *attest.Provenance `json:"provenance,omitempty"`
				}{o.jsonOf(rep, v), prov}); err != nil {
					return err
				}
				return verr
			}
			if err := o.printReport(cmd.OutOrStdout(), rep, v); err != nil {
				return err
			}
			if prov != nil {
				printProvenance(cmd.OutOrStdout(), o.style(cmd.OutOrStdout()), prov)
			}
			o.printTests(cmd.OutOrStdout(), rep)
			return verr
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.target, "target", "", "target whose test results count (default: the repository's last path component)")
	return cmd
}

// printTests prints inspect's test section: the summary every command
// prints (promote.TestSummary, over the target's suites when there is a
// bakery.yaml), then each result that counts, newest per suite, platform
// and environment, with when it finished and the tests that failed.
func (o *verifyOptions) printTests(w io.Writer, rep *attest.Report) {
	s, target := o.style(w), o.targetOf(rep)
	ev := promote.Tests(rep, target)
	var suites []string
	if o.cfg != nil {
		suites = promote.Suites(o.cfg, target)
	}
	summary := promote.TestSummary(ev, suites)
	if summary == "" {
		summary = "no test result for target " + target
	} else if promote.TestFailed(ev) {
		summary = s.alert(summary)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Tests")
	fmt.Fprintf(tw, "  %s\t%s\n", target, summary)
	for _, e := range ev {
		where := "at build"
		if e.Environment != "" {
			where = "in " + e.Environment
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tfinished %s\n", e.Suite, dash(e.Platform), where, testVerdict(s, e.Result), s.ago(e.Finished))
		if len(e.Failed) > 0 {
			fmt.Fprintf(tw, "  \tfailed: %s\n", strings.Join(e.Failed, ", "))
		}
	}
	tw.Flush()
}

// testVerdict is a test result's verdict as text shows it: FAILED alerts.
func testVerdict(s style, result string) string {
	if result == string(imagetest.Failed) {
		return s.alert(result)
	}
	return result
}

// printProvenance prints a provenance's summary: in text, when it was built
// as an age and base digests short; with -o wide, times and digests in full.
func printProvenance(w io.Writer, s style, p *attest.Provenance) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Provenance")
	fmt.Fprintf(tw, "  builder\t%s\n", p.RunDetails.Builder.ID)
	fmt.Fprintf(tw, "  build type\t%s\n", p.BuildDefinition.BuildType)
	if m := p.RunDetails.Metadata; m.StartedOn != nil && m.FinishedOn != nil {
		if s.wide {
			fmt.Fprintf(tw, "  built\t%s .. %s\n", m.StartedOn.UTC().Format(time.RFC3339), m.FinishedOn.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(tw, "  built\t%s, in %s\n", s.ago(m.StartedOn.UTC().Format(time.RFC3339)), m.FinishedOn.Sub(*m.StartedOn).Round(time.Second))
		}
	}
	if c := p.BuildDefinition.ExternalParameters.Container; c != nil && c.Source != nil {
		uri := c.Source.URI
		if uri == "" {
			uri = "(no remote)"
		}
		fmt.Fprintf(tw, "  source\t%s commit %s, dirty: %s\n", uri, c.Source.Commit, yesNo(c.Source.Dirty))
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		fmt.Fprintf(tw, "  dependency\t%s %s\n", d.URI, s.digest("sha256:"+d.Digest["sha256"]))
	}
	tw.Flush()
}
