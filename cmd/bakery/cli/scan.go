package cli

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/vuln"
)

const scanLong = `Scan the verified SPDX SBOM of every platform of a digest for known
vulnerabilities, offline, with grype (as a library) and the database that
vulnerabilities.db names, and record each platform's findings as a signed
in-toto attestation of the digest with cosign's vulnerability predicate
(cosign verify-attestation --type vuln reads it). docs/vulnerabilities.md
has the details.

TARGET scans the digest ENV's tag points at (default: the first
environment); IMAGE (a tag or a digest) is resolved once, and the target is
its repository's last path component. Only a digest that verifies is
scanned: bakery never scans an SBOM it cannot trust.

Then it prints the digest's vulnerability evidence: every finding of the
scan that counts per platform (the one made with the newest database, then
the newest), with what suppresses it (a signed VEX statement or a waiver),
and one summary line. A database older than vulnerabilities.max_db_age is a
warning here: a scan is evidence, not a decision (promote and rescan refuse
it).

Exit 0 once the scan is recorded, whatever it found; 2 for a missing,
truncated or foreign database; 4 when the digest does not verify.`

const scanExample = `  bakery scan app                      # the first environment's digest of app
  bakery scan app --env prod -o json
  bakery scan registry.example/prod/app@sha256:…

  # the same attestation with the stock cosign CLI
  cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type vuln IMAGE@DIGEST`

func newScan(ro *rootOptions) *cobra.Command {
	var env, prog string
	cmd := &cobra.Command{
		Use:     "scan TARGET|IMAGE [--env ENV]",
		Short:   "Scan a digest's verified SBOMs for known vulnerabilities, offline, and record the signed result",
		Long:    scanLong,
		Example: scanExample,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ro.runScan(cmd, args[0], env, prog)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose digest of TARGET is scanned (default: the first; for an IMAGE, the environment whose repository holds it)")
	cmd.Flags().StringVar(&prog, "progress", "quiet", "progress output: "+strings.Join(progress.Modes, ", "))
	addKeyFlag(cmd, ro)
	return cmd
}

// scanJSON is bakery scan -o json.
type scanJSON struct {
	Reference   string            `json:"reference"`
	Target      string            `json:"target"`
	Environment string            `json:"environment"`
	Database    vuln.Status       `json:"database"`
	Summary     string            `json:"summary"`
	Scans       []vuln.Evidence   `json:"scans"`
	IgnoredVEX  []vuln.IgnoredVEX `json:"ignoredVex"`
}

func (ro *rootOptions) runScan(cmd *cobra.Command, arg, envName, prog string) error {
	if err := ro.validate(); err != nil {
		return err
	}
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := pipeline.NeedVulnDB(s.cfg) // a config error before the registry is asked anything
	if err != nil {
		return err
	}
	defer db.Close()
	target, env, ref, err := resolveScanned(cmd, s.cfg, arg, envName)
	if err != nil {
		return err
	}
	if w := pipeline.StaleDBWarning(db, s.cfg, time.Now()); w != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), w)
	}
	verifier, err := s.trust(ctx)
	if err != nil {
		return err
	}
	p, err := progress.NewPrinter(ctx, cmd.ErrOrStderr(), prog)
	if err != nil {
		return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	res, err := pipeline.ScanDigest(ctx, ref, target, env, pipeline.ScanOptions{DB: db, Verifier: verifier,
		Signer: s.pendingSigner(ctx), Suppressions: vuln.NewSuppressions(ctx, s.cfg, verifier.Keys()), Progress: p})
	_ = p.Wait()
	if err != nil {
		return err
	}
	warnScan(cmd.ErrOrStderr(), res)
	out := scanJSON{Reference: ref.String(), Target: target, Environment: env, Database: db.Status(),
		Summary: vuln.Summary(res.Evidence), Scans: res.Evidence, IgnoredVEX: res.Ignored}
	if out.IgnoredVEX == nil {
		out.IgnoredVEX = []vuln.IgnoredVEX{}
	}
	if ro.output == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	return printScan(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), out)
}

// warnScan says on stderr what a person must know of a scan beside its
// findings: VEX documents that counted for nothing, and a scan that does
// not verify with the trusted keys once recorded.
func warnScan(w io.Writer, res *pipeline.Scanned) {
	for _, i := range res.Ignored {
		fmt.Fprintf(w, "warning: ignored VEX %s: %s\n", i.Source, i.Reason)
	}
	if !res.Recorded {
		fmt.Fprintf(w, "warning: %s in %s: the recorded scan does not verify with the trusted keys (signing.key's public key is not among verification.keys): it counts for nothing\n",
			res.Target, dash(res.Environment))
	}
}

// resolveScanned resolves scan's argument, once, to a digest: a target's
// digest in envName (default the first environment), or an image whose
// target is its repository's last path component and whose environment is
// envName, else the one whose repository holds it ("" for none).
func resolveScanned(cmd *cobra.Command, cfg *config.Config, arg, envName string) (string, string, name.Digest, error) {
	ctx := cmd.Context()
	if t, err := cfg.LookupTarget(arg); err == nil {
		env := &cfg.Environments[0]
		if envName != "" {
			if env, _, err = cfg.LookupEnvironment(envName); err != nil {
				return "", "", name.Digest{}, err
			}
		}
		tag, err := env.Locate(t.Name)
		if err != nil {
			return "", "", name.Digest{}, err
		}
		ref, err := attest.Resolve(ctx, tag.String())
		if err != nil {
			return "", "", name.Digest{}, failure.New(failure.ClassOf(err), fmt.Sprintf("target %q in %s", t.Name, env.Name), err, "build or promote it there first")
		}
		return t.Name, env.Name, ref, nil
	}
	if !strings.ContainsAny(arg, "/:@") {
		_, err := cfg.LookupTarget(arg) // neither a target nor an image: say which targets there are
		return "", "", name.Digest{}, err
	}
	ref, err := attest.Resolve(ctx, arg)
	if err != nil {
		return "", "", name.Digest{}, err
	}
	target := path.Base(ref.Context().RepositoryStr())
	if _, err := cfg.LookupTarget(target); err != nil {
		return "", "", name.Digest{}, failure.New(failure.Config, arg, fmt.Errorf("its repository names no target (%s)", target),
			"scan an image of a target's repository, or name the TARGET")
	}
	if envName != "" {
		env, _, err := cfg.LookupEnvironment(envName)
		if err != nil {
			return "", "", name.Digest{}, err
		}
		return target, env.Name, ref, nil
	}
	for i := range cfg.Environments {
		if repo, err := cfg.Environments[i].RepositoryFor(target); err == nil && repo.Name() == ref.Context().Name() {
			return target, cfg.Environments[i].Name, ref, nil
		}
	}
	return target, "", ref, nil
}

// printScan prints a row per finding of every platform's scan that counts,
// then the one summary.
func printScan(w io.Writer, s style, out scanJSON) error {
	fmt.Fprintf(w, "%s in %s: %s, database built %s\n", out.Target, dash(out.Environment), s.ref(out.Reference), s.ago(out.Database.Built.Format(time.RFC3339)))
	t := newTable("ID", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "PLATFORM", "SUPPRESSED")
	n := 0
	for _, e := range out.Scans {
		for _, f := range e.Findings {
			n++
			t.row(findingRow(s, e.Platform, f)...)
		}
	}
	if n > 0 {
		if err := t.write(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "vulnerabilities: %s\n", out.Summary)
	return err
}

// findingRow is a finding as scan's table shows it.
func findingRow(s style, platform string, f vuln.Judged) []string {
	sev := f.Severity
	if f.Suppressed == nil && vuln.Rank(sev) >= vuln.Rank("high") {
		sev = s.alert(strings.ToUpper(sev))
	}
	supp := textNone
	if f.Suppressed != nil {
		supp = f.Suppressed.String()
	} else if f.Note != "" {
		supp = s.alert(f.Note)
	}
	return []string{f.ID, sev, f.Package, f.Version, fixCell(f.Finding), dash(platform), supp}
}

// fixCell is what fixes a finding: the fixed versions, else its fix state
// (not-fixed, wont-fix) or "-".
func fixCell(f vuln.Finding) string {
	if len(f.Fixed) > 0 {
		return strings.Join(f.Fixed, ", ")
	}
	if f.FixState != "" && f.FixState != "unknown" && f.FixState != "fixed" {
		return f.FixState
	}
	return textNone
}

func newDB(ro *rootOptions) *cobra.Command {
	db := &cobra.Command{Use: "db", Short: "Show the vulnerability database bakery reads"}
	st := &cobra.Command{
		Use:   "status",
		Short: "Show the vulnerability database: where, which schema, how old, and whether it is fresh enough for decisions",
		Long: `Open the grype database that vulnerabilities.db names (the vulnerability.db
file, or the directory holding it, as the stock grype db update or grype db
import leaves it) and show its path, schema, build time, age and checksum,
and whether it is within vulnerabilities.max_db_age (decisions refuse an
older one). bakery never downloads it: docs/vulnerabilities.md says how to
carry one across an air gap.

Exit 0 when it opens, whatever its age; 2 when it is not set, missing,
truncated or of another schema (one line naming the file).`,
		Example: `  bakery db status
  bakery db status -o json | jq .fresh`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ro.runDBStatus(cmd)
		},
	}
	db.AddCommand(st)
	return db
}

// dbStatusJSON is bakery db status -o json.
type dbStatusJSON struct {
	vuln.Status
	// Age is how long ago it was built, a Go duration; MaxAge is
	// vulnerabilities.max_db_age ("0s": no limit).
	Age    string `json:"age"`
	MaxAge string `json:"maxAge"`
	// Fresh says it is within MaxAge: decisions may rest on it.
	Fresh bool `json:"fresh"`
}

func (ro *rootOptions) runDBStatus(cmd *cobra.Command) error {
	if err := ro.validate(); err != nil {
		return err
	}
	cfg, err := ro.load(cmd)
	if err != nil {
		return err
	}
	db, err := pipeline.NeedVulnDB(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	st, maxAge := db.Status(), cfg.Vulnerabilities.MaxDBAgeDuration()
	out := dbStatusJSON{Status: st, Age: st.Age(now).Round(time.Second).String(), MaxAge: maxAge.String(),
		Fresh: db.Fresh(now, maxAge) == nil}
	if ro.output == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	s := ro.style(cmd.OutOrStdout())
	fresh := "yes"
	if !out.Fresh {
		fresh = s.alert("NO") + ": decisions (promote, rescan) refuse it; update it"
	}
	limit := maxAge.String()
	if maxAge <= 0 {
		limit = "no limit"
	}
	t := &table{}
	t.row("path", st.Path)
	t.row("schema", st.Schema)
	t.row("built", st.Built.Format(time.RFC3339))
	t.row("age", age(st.Age(now)))
	t.row("checksum", dash(st.Checksum))
	t.row("max_db_age", limit)
	t.row("fresh", fresh)
	return t.write(cmd.OutOrStdout())
}
