package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/vuln"
)

const rescanLong = `Re-judge what runs now against the loaded vulnerability database: for every
target and environment (or only --env), the digest the environment's tag
points at is verified, its verified SBOMs are scanned again, the new scan is
recorded as a signed attestation of that digest in the environment's
repository, and its findings are judged with the signed VEX statements, the
waivers and that environment's vulnerabilities policy.

It prints what newly fails: each finding that fails the environment's policy
now and did not in the digest's previous scan that counted (everything that
fails, for a digest never scanned), with its id, severity, fix, target and
environment. A finding fails when nothing suppresses it and its id is one of
deny_ids, or its severity is at or above deny_severity (and, with
only_fixed, a fixed version exists). An environment without a
vulnerabilities policy fails nothing.

The database must be within vulnerabilities.max_db_age: a rescan decides,
and a decision never rests on stale data (exit 2 otherwise).

--check exits 4 when any finding fails (newly or not), for a cron job to
alert on. A digest that does not verify is not scanned, is named on stderr,
and exits 4 too.`

const rescanExample = `  bakery rescan                      # every environment, after grype db import of a newer database
  bakery rescan --env prod --check   # in cron: exit 4 when prod runs something its policy now denies
  bakery rescan -o json | jq '.newlyFailing[] | .id'`

func newRescan(ro *rootOptions) *cobra.Command {
	var check bool
	var sel selection
	var prog string
	cmd := &cobra.Command{
		Use:     "rescan [TARGET...] [--env ENV]... [--check]",
		Short:   "Scan again what every environment runs, record the signed scans, and show what newly fails its policy",
		Long:    rescanLong,
		Example: rescanExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			return ro.runRescan(cmd, &sel, args, check, prog)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "exit 4 when any finding fails an environment's vulnerabilities policy")
	cmd.Flags().StringVar(&prog, "progress", "quiet", "progress output: "+strings.Join(progress.Modes, ", "))
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// rescanJSON is bakery rescan -o json.
type rescanJSON struct {
	Database vuln.Status `json:"database"`
	// Digests are the digests scanned, a target and environment each.
	Digests []rescanDigest `json:"digests"`
	// NewlyFailing are the findings that fail now and did not before.
	NewlyFailing []pipeline.Failing `json:"newlyFailing"`
	// Skipped are the digests that could not be scanned, and why.
	Skipped []rescanSkipped `json:"skipped"`
}

// rescanDigest is one digest rescanned.
type rescanDigest struct {
	Target          string                `json:"target"`
	Environment     string                `json:"environment"`
	Digest          string                `json:"digest"`
	Vulnerabilities *pipeline.VulnSummary `json:"vulnerabilities"`
	// Failing counts the findings that fail the environment's policy now;
	// NewlyFailing those of them that did not before.
	Failing      int `json:"failing"`
	NewlyFailing int `json:"newlyFailing"`
	// FailingIDs are the ids of the findings that fail, once each.
	FailingIDs []string `json:"failingIds"`
}

// rescanSkipped is a digest an environment runs that was not scanned.
type rescanSkipped struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Reason      string `json:"reason"`
}

func (ro *rootOptions) runRescan(cmd *cobra.Command, sel *selection, targets []string, check bool, prog string) error {
	if err := ro.validate(); err != nil {
		return err
	}
	s, err := ro.site(cmd)
	if err != nil {
		return err
	}
	cfg, ctx := s.cfg, cmd.Context()
	if err := sel.resolve(cfg, targets); err != nil {
		return err
	}
	db, err := pipeline.NeedVulnDB(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	if err := db.Fresh(now, cfg.Vulnerabilities.MaxDBAgeDuration()); err != nil {
		return err
	}
	verifier, err := s.trust(ctx)
	if err != nil {
		return err
	}
	p, err := progress.NewPrinter(ctx, cmd.ErrOrStderr(), prog)
	if err != nil {
		return failure.New(failure.Config, "--progress", err, "use one of "+strings.Join(progress.Modes, ", "))
	}
	opts := pipeline.ScanOptions{DB: db, Verifier: verifier, Signer: s.pendingSigner(ctx),
		Suppressions: vuln.NewSuppressions(ctx, cfg, verifier.Keys()), Progress: p, Now: now}
	out := rescanJSON{Database: db.Status(), Digests: []rescanDigest{}, NewlyFailing: []pipeline.Failing{}, Skipped: []rescanSkipped{}}
	for _, target := range cfg.TargetNames() {
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			if !sel.has(target, env.Name) {
				continue
			}
			if err = rescanOne(cmd, target, env, opts, &out); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = p.Wait()
	if err != nil {
		return err
	}
	return ro.finishRescan(cmd, out, check)
}

// rescanOne rescans what env runs for target into out: a digest scanned,
// or skipped (it does not verify, or has no SBOM); nothing when nothing
// runs there. An outage or a failure to record is the error.
func rescanOne(cmd *cobra.Command, target string, env *config.Environment, opts pipeline.ScanOptions, out *rescanJSON) error {
	ctx := cmd.Context()
	tag, err := env.Locate(target)
	if err != nil {
		return err
	}
	ref, err := registry.Resolve(ctx, tag)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return err
		}
		return nil // nothing runs there
	}
	skip := func(err error) {
		out.Skipped = append(out.Skipped, rescanSkipped{Target: target, Environment: env.Name, Digest: ref.DigestStr(), Reason: causeOf(err)})
	}
	rep, err := opts.Verifier.Verify(ctx, ref)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return err
		}
		skip(err)
		return nil
	}
	res, err := pipeline.ScanReport(ctx, rep, ref, target, env.Name, opts)
	if err != nil {
		if failure.ClassOf(err) == failure.Verify { // no SBOM to scan
			skip(err)
			return nil
		}
		return err
	}
	warnScan(cmd.ErrOrStderr(), res)
	newly := pipeline.NewlyFailing(res, env.Vulnerabilities)
	out.NewlyFailing = append(out.NewlyFailing, newly...)
	fails := pipeline.Failures(res.Evidence, env.Vulnerabilities)
	ids := []string{}
	for _, f := range fails {
		if !slices.Contains(ids, f.ID) {
			ids = append(ids, f.ID)
		}
	}
	out.Digests = append(out.Digests, rescanDigest{Target: target, Environment: env.Name, Digest: ref.DigestStr(),
		Vulnerabilities: pipeline.SummaryOf(res.Evidence), Failing: len(fails), NewlyFailing: len(newly), FailingIDs: ids})
	return nil
}

// finishRescan prints what rescan found, names what it could not scan,
// and exits 4 for those, or with --check for what fails.
func (ro *rootOptions) finishRescan(cmd *cobra.Command, out rescanJSON, check bool) error {
	var failing []string
	for _, d := range out.Digests {
		if d.Failing > 0 {
			failing = append(failing, fmt.Sprintf("%s in %s (%s)", d.Target, d.Environment, strings.Join(d.FailingIDs, ", ")))
		}
	}
	var err error
	if ro.output == "json" {
		err = writeJSON(cmd.OutOrStdout(), out)
	} else {
		err = printRescan(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), out)
	}
	if err != nil {
		return err
	}
	for _, k := range out.Skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "not scanned: %s in %s (%s): %s\n", k.Target, k.Environment, k.Digest, k.Reason)
	}
	if len(out.Skipped) > 0 {
		names := make([]string, len(out.Skipped))
		for i, k := range out.Skipped {
			names[i] = k.Target + " in " + k.Environment
		}
		return failure.New(failure.Verify, "rescan", errors.New("not scanned, their digests do not verify: "+strings.Join(names, ", ")),
			"see bakery verify and bakery status")
	}
	if check && len(failing) > 0 {
		return failure.New(failure.Verify, "rescan --check", errors.New("findings fail the vulnerabilities policy: "+strings.Join(failing, ", ")),
			"promote a fixed digest, or suppress a finding with a signed VEX statement or a waiver (docs/vulnerabilities.md)")
	}
	return nil
}

// causeOf is an error's cause alone, one line (the digest and environment
// are named beside it).
func causeOf(err error) string {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Err != nil {
		err = fe.Err
	}
	return failure.OneLine(err.Error())
}

// printRescan prints what newly fails, then a line per digest rescanned.
func printRescan(w io.Writer, s style, out rescanJSON) error {
	if len(out.NewlyFailing) > 0 {
		head := []string{"ID", "SEVERITY", "FIX", "TARGET", "ENVIRONMENT"}
		if s.wide {
			head = append(head, "PACKAGE", "VERSION", "PLATFORM", "DIGEST")
		}
		t := newTable(head...)
		for _, f := range out.NewlyFailing {
			row := []string{f.ID, s.alert(strings.ToUpper(f.Severity)), fixCell(f.Finding), f.Target, f.Environment}
			if s.wide {
				row = append(row, f.Package, f.Version, dash(f.Platform), f.Digest)
			}
			t.row(row...)
		}
		if err := t.write(w); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "nothing newly fails (%s, database built %s)\n", plural(len(out.Digests), "digest")+" scanned", out.Database.Built.Format(time.RFC3339))
	}
	slices.SortStableFunc(out.Digests, func(a, b rescanDigest) int { return strings.Compare(a.Target, b.Target) })
	for _, d := range out.Digests {
		fails := ""
		if d.Failing > 0 {
			fails = fmt.Sprintf("; %s", s.alert(fmt.Sprintf("%d failing its policy (%d new)", d.Failing, d.NewlyFailing)))
		}
		if _, err := fmt.Fprintf(w, "%s in %s: %s: %s%s\n", d.Target, d.Environment, s.digest(d.Digest), d.Vulnerabilities.Summary, fails); err != nil {
			return err
		}
	}
	return nil
}
