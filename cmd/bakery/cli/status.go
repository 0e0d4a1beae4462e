package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/promote"
)

func newStatus(ro *rootOptions) *cobra.Command {
	var check bool
	var sel selection
	cmd := &cobra.Command{
		Use:   "status [TARGET...] [--env ENV]... [--check]",
		Short: "Show what every environment runs, for every target, from the registry",
		Long: `For every target and environment: the digest the environment's tag points at,
whether it verifies, whether it holds a verified receipt for that target and
environment (RECEIPT), its test evidence (TESTS: "2/2 passed", "1 FAILED",
"untested", "-" for a target with no suite; the results verify counts, the
newest per suite, platform and environment), its known vulnerabilities
(VULNS: the findings that count, by severity, of its newest verified scan
per platform, "none", or "unscanned"; docs/vulnerabilities.md), and DRIFT when the tag does not
point where bakery last put it (moved by hand, outside bakery). --check exits 4 when any environment
that has a tag is unverified, unreceipted or drifting, or runs a revoked digest
(REVOKED; the error says which rollback fixes it), for a CI job to alert on.
For a machine image whose environment rolls it out (aws.rollout), ROLLOUT
shows each launch template's default version ("(old AMI)" when it does not
carry the environment's AMI) and its groups' newest instance refresh states;
-o json has them per template and group ("rollout").`,
		Example: `  bakery status
  bakery status app --env prod --env staging
  bakery status --check   # in cron: exit 4 when prod runs something bakery did not put there
  bakery status -o json   # for Terraform or dashboards: digests, and AMI ids per region for machine images`,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, st, partial, err := ro.currentStatus(cmd, &sel, args)
			if err != nil {
				return err
			}
			if rerr := promote.RolloutStatus(cmd.Context(), g.cfg, nil, st); rerr != nil {
				// AWS could not be asked: shown without ROLLOUT, exit 6 after
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", oneLine(rerr))
				if partial == nil {
					partial = failure.New(failure.Unavailable, "rollout status", rerr, "check AWS credentials and endpoints, then run bakery status again")
				}
			}
			rows := withVulns(st)
			if ro.output == "json" {
				err = writeJSON(cmd.OutOrStdout(), rows)
			} else {
				err = printStatus(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), rows)
			}
			if err != nil {
				return err
			}
			if partial != nil {
				return partial // exit 6, after what could be read
			}
			if !check {
				return nil
			}
			return unhealthy(st)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "exit 4 when any environment's tag is unverified, has no receipt, or drifted")
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// currentStatus is where status and drift start: the checked config and
// keys, and what every environment runs for every target. partial is the
// exit-6 error of environments that could not be reached (their rows say
// UNREACHABLE), warned about once on stderr, for the caller to return
// after printing what it could read.
func (ro *rootOptions) currentStatus(cmd *cobra.Command, sel *selection, targets []string) (g *gate, st []promote.Status, partial, err error) {
	if err := ro.validate(); err != nil {
		return nil, nil, nil, err
	}
	if g, err = ro.gate(cmd); err != nil {
		return nil, nil, nil, err
	}
	if err := sel.resolve(g.cfg, targets); err != nil {
		return nil, nil, nil, err
	}
	st, err = promote.CurrentStatus(cmd.Context(), g.cfg, g.verifier)
	st = selected(sel, st, func(s promote.Status) (string, string) { return s.Target, s.Environment })
	if failure.ClassOf(err) == failure.Unavailable && !slices.ContainsFunc(st, func(s promote.Status) bool { return s.Unreachable != "" }) {
		err = nil // only environments that were not asked about are down
	}
	if st != nil && failure.ClassOf(err) == failure.Unavailable {
		warnUnreachable(cmd.ErrOrStderr(), err)
		return g, st, err, nil
	}
	return g, st, nil, err
}

// warnUnreachable is the one warning of a partial answer, before it; the
// error itself (why, and what to do) ends the command with exit 6.
func warnUnreachable(w io.Writer, err error) {
	var fe *failure.Error
	if errors.As(err, &fe) {
		fmt.Fprintf(w, "warning: %s could not be reached: shown as UNREACHABLE, everything else is shown\n", fe.Subject)
	}
}

// printStatus prints a row per target and environment: in text, what a
// person scans (short digest, age, yes/no, REVOKED in VERIFIED); with -o
// wide, every column in full.
func printStatus(w io.Writer, s style, st []statusJSON) error {
	var cols []string
	if s.wide {
		cols = []string{"TARGET", "KIND", "ENVIRONMENT", "DIGEST", "AMIS", "TIME", "ACTION", "SIGNER", "VERIFIED", "RECEIPT", "TESTS", "VULNS", "DRIFT", "REVOKED"}
	} else {
		cols = []string{"TARGET", "KIND", "ENVIRONMENT", "DIGEST", "AGE", "ACTION", "VERIFIED", "RECEIPT", "TESTS", "VULNS", "DRIFT"}
	}
	// ROLLOUT only when some environment rolls a machine image out
	rollout := slices.ContainsFunc(st, func(r statusJSON) bool { return len(r.Rollout) > 0 })
	if rollout {
		cols = append(cols, "ROLLOUT")
	}
	t := newTable(cols...)
	kinds := map[string]string{} // a target's kind, from where it runs
	for _, r := range st {
		if r.Kind != "" {
			kinds[r.Target] = r.Kind
		}
	}
	for _, r := range st {
		r.Kind = kinds[r.Target] // where it does not run yet, too
		row := statusRow(s, r.Status, r.Vulnerabilities)
		if rollout {
			row = append(row, rolloutCell(s, r.Rollout))
		}
		t.row(row...)
	}
	return t.write(w)
}

// statusRow is one row of printStatus.
func statusRow(s style, r promote.Status, v *pipeline.VulnSummary) []string {
	kind, digest := dash(r.Kind), s.digest(r.Digest)
	if r.Unreachable != "" {
		digest = s.alert(textUnreachable)
	}
	verified, receipt, tests, vulns, drift, revoked := textNone, textNone, textNone, textNone, textNone, textNone
	if r.Digest != "" && r.Unreachable == "" {
		verified, receipt, tests, vulns = yesNo(r.Verified), yesNo(r.Receipt), testsCell(s, r.Tests, r.Suites), vulnsCell(s, v)
		if r.Drift {
			drift = s.alert(textDrift)
		}
		if r.Revoked != nil {
			verified = s.alert(textRevoked)
			revoked = verified
			if r.Revoked.Cause != "" {
				revoked += " via " + s.digest(r.Revoked.Cause)
			}
		}
	}
	if !s.wide {
		return []string{r.Target, kind, r.Environment, digest, s.when(r.Time), dash(r.Action), verified, receipt, tests, vulns, drift}
	}
	return []string{r.Target, kind, r.Environment, digest, amiList(r.AMIs), s.when(r.Time), dash(r.Action), dash(r.Signer),
		verified, receipt, tests, vulns, drift, revoked}
}

// testsCell is a digest's test evidence in a table cell: the one summary
// (promote.TestSummary, "2/2 passed", "1 FAILED"), alerting when a result
// FAILED; "-" when the target has neither a suite nor a result.
func testsCell(s style, ev []promote.TestEvidence, suites []string) string {
	out := promote.TestSummary(ev, suites)
	switch {
	case out == "":
		return textNone
	case promote.TestFailed(ev):
		return s.alert(out)
	}
	return out
}

// unhealthy is the --check verdict: a verification failure naming every
// environment whose tag is there but not healthy.
func unhealthy(st []promote.Status) error {
	var bad, revoked, fixes []string
	for _, s := range st {
		switch {
		case s.Digest == "" || s.Healthy():
		case s.Revoked != nil:
			revoked = append(revoked, fmt.Sprintf("%s in %s runs %s (%s)", s.Target, s.Environment, short(s.Digest), s.Revoked.Describe()))
			if s.RollbackTo != "" {
				fixes = append(fixes, fmt.Sprintf("bakery rollback %s --env %s --digest %s", s.Target, s.Environment, s.RollbackTo))
			} else {
				fixes = append(fixes, fmt.Sprintf("promote a fix of %s into %s (no earlier digest is unrevoked)", s.Target, s.Environment))
			}
		default:
			bad = append(bad, s.Target+" in "+s.Environment)
		}
	}
	if len(revoked) > 0 {
		return failure.New(failure.Verify, "status --check", errors.New("revoked: "+strings.Join(revoked, "; ")+
			unhealthyToo(bad)), "run "+strings.Join(fixes, "; "))
	}
	if len(bad) == 0 {
		return nil
	}
	return failure.New(failure.Verify, "status --check", errors.New("unverified, unreceipted or drifting: "+strings.Join(bad, ", ")),
		"see bakery history; promote or roll back to put a receipted digest there")
}

func unhealthyToo(bad []string) string {
	if len(bad) == 0 {
		return ""
	}
	return "; also unverified, unreceipted or drifting: " + strings.Join(bad, ", ")
}
