package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/vuln"
)

// ScanOptions configures ScanDigest: the database, who is trusted, who
// signs, and what suppresses a finding.
type ScanOptions struct {
	DB *vuln.Database
	// Verifier verifies the digest before its SBOMs are scanned (only
	// verified SBOMs are), and reads the recorded scan back.
	Verifier *attest.Verifier
	// Signer signs the scans; it is waited for once they are made.
	Signer *attest.PendingSigner
	// Suppressions are bakery.yaml's VEX files and waivers; nil: none.
	Suppressions *vuln.Suppressions
	Progress     progress.Streamer
	// Now is when findings are judged (waivers expire); zero: time.Now.
	Now time.Time
	// SkipCurrent records no new scan of a digest whose scans that count
	// were all made with this database (a build that made the same digest
	// again): its evidence stands.
	SkipCurrent bool
}

// Scanned is what ScanDigest did to one digest of a target: the evidence
// it carried before (the newest verified scan that counted), and the
// evidence it carries now, both judged with the suppressions.
type Scanned struct {
	Target      string
	Environment string
	Reference   name.Digest
	// Report is the digest's verification report, as the scan found it
	// (before the new scan was attached).
	Report *attest.Report
	// Before is the evidence before the scan (none: never scanned);
	// Evidence the evidence once the new scan is read back.
	Before   []vuln.Evidence
	Evidence []vuln.Evidence
	// Ignored are the VEX documents that counted for nothing, and why.
	Ignored []vuln.IgnoredVEX
	// Recorded says the new scan was read back, verified, among the
	// digest's evidence; false when it does not verify with the trusted keys.
	Recorded bool
}

// ScanDigest verifies ref (a digest of target in env; "" for the build's
// scan) with opts.Verifier, scans every platform's verified SPDX SBOM with
// opts.DB, records the scans signed with opts.Signer as attestations of ref,
// reads them back (only the vulnerability attestations, verified) and judges
// the evidence with opts.Suppressions. A digest that does not verify is not
// scanned: its verification failure is the error.
func ScanDigest(ctx context.Context, ref name.Digest, target, env string, opts ScanOptions) (*Scanned, error) {
	rep, err := opts.Verifier.Verify(ctx, ref)
	if err != nil {
		return nil, err
	}
	return ScanReport(ctx, rep, ref, target, env, opts)
}

// ScanReport is ScanDigest of a digest already verified: rep is its
// verification report.
func ScanReport(ctx context.Context, rep *attest.Report, ref name.Digest, target, env string, opts ScanOptions) (*Scanned, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	out := &Scanned{Target: target, Environment: env, Reference: ref, Report: rep}
	out.Before, out.Ignored = opts.Suppressions.Evidence(rep, target, now)
	if opts.SkipCurrent && scannedWith(out.Before, opts.DB.Status().Built) {
		out.Evidence, out.Recorded = out.Before, true
		return out, nil
	}
	done := progress.Step(opts.Progress, target, "scan: known vulnerabilities of each platform's SBOM")
	scans, err := opts.DB.ScanReport(ctx, rep, target, env)
	if err == nil && opts.Signer == nil {
		err = failure.New(failure.Config, "signing.key", errors.New("no signing key to record the scan with"), "set signing.key")
	}
	if err == nil {
		var signer signature.SignerVerifier
		if signer, err = opts.Signer.Get(ctx); err == nil {
			err = vuln.Record(ctx, signer, opts.Verifier.Keys(), ref, scans)
		}
	}
	if err == nil {
		out.Evidence, out.Ignored, out.Recorded, err = readBack(ctx, rep, ref, target, scans, opts, now)
	}
	done(err)
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), "target "+strconv.Quote(target), err, "")
	}
	return out, nil
}

// scannedWith says every scan of ev was made with the database built at
// built (and there is one).
func scannedWith(ev []vuln.Evidence, built time.Time) bool {
	return len(ev) > 0 && !slices.ContainsFunc(ev, func(e vuln.Evidence) bool { return !e.DBBuiltAt().Equal(built) })
}

// VulnSummary is a digest's vulnerability evidence in short, as build and
// status print it: the one summary (vuln.Summary: "unscanned", "none", "1
// critical, 2 high (1 suppressed)") and the counts that count by severity.
type VulnSummary struct {
	Summary string         `json:"summary"`
	Counts  map[string]int `json:"counts"`
}

// SummaryOf is ev in short.
func SummaryOf(ev []vuln.Evidence) *VulnSummary {
	return &VulnSummary{Summary: vuln.Summary(ev), Counts: vuln.Counts(ev)}
}

// readBack reads ref's verified vulnerability attestations again (nothing
// else: the rest of rep stands) and judges the evidence they make with rep's
// other attestations. recorded says that each new scan is among them.
func readBack(ctx context.Context, rep *attest.Report, ref name.Digest, target string, scans []vuln.Scan, opts ScanOptions, now time.Time) ([]vuln.Evidence, []vuln.IgnoredVEX, bool, error) {
	atts, _, err := opts.Verifier.Attestations(ctx, ref, []string{vuln.PredicateType})
	if err != nil {
		return nil, nil, false, err
	}
	again := *rep
	again.Attestations = vuln.ReplaceScans(rep.Attestations, atts)
	ev, ignored := opts.Suppressions.Evidence(&again, target, now)
	recorded := true
	for _, s := range scans {
		started := s.Predicate.Metadata.ScanStartedOn
		recorded = recorded && slices.ContainsFunc(atts, func(a attest.AttestationInfo) bool {
			p, err := vuln.ParsePredicate(a.Predicate)
			return err == nil && p.Scanner.Result.Bakery.Platform == s.Statement.Platform && p.Metadata.ScanStartedOn.Equal(started)
		})
	}
	return ev, ignored, recorded, nil
}

// Fails says whether finding f fails under policy p, the one rule that
// rescan, find and the vulnerabilities policy share. A suppressed finding
// (signed VEX, waiver in force) never fails; otherwise f fails when its id
// is one of p.DenyIDs (case-insensitively, fix or not), or when
// p.DenySeverity is set, f's severity ranks at or above it (vuln.Rank:
// unknown < negligible < low < medium < high < critical) and, with
// p.OnlyFixed, a fixed version exists (vuln.Finding.HasFix). A nil policy
// fails nothing.
func Fails(f vuln.Judged, p *config.VulnPolicy) bool {
	if p == nil || f.Suppressed != nil {
		return false
	}
	if slices.ContainsFunc(p.DenyIDs, func(id string) bool { return strings.EqualFold(id, f.ID) }) {
		return true
	}
	if p.DenySeverity == "" || vuln.Rank(f.Severity) < vuln.Rank(p.DenySeverity) {
		return false
	}
	return !p.OnlyFixed || f.HasFix()
}

// Failing is one finding that fails under an environment's policy, where.
type Failing struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Platform    string `json:"platform"`
	vuln.Judged
}

// Failures are the findings of ev that fail under p (Fails), one per
// platform, id, package and version.
func Failures(ev []vuln.Evidence, p *config.VulnPolicy) []vuln.Judged {
	var out []vuln.Judged
	for _, e := range ev {
		for _, f := range e.Findings {
			if Fails(f, p) {
				out = append(out, f)
			}
		}
	}
	return out
}

// NewlyFailing are the findings of s's evidence that fail under p and did
// not fail in the evidence s's digest carried before the scan (all that
// fail, when it had never been scanned).
func NewlyFailing(s *Scanned, p *config.VulnPolicy) []Failing {
	key := func(platform string, f vuln.Judged) string {
		return platform + "\x00" + f.ID + "\x00" + f.Package + "\x00" + f.Version
	}
	before := map[string]bool{}
	for _, e := range s.Before {
		for _, f := range e.Findings {
			if Fails(f, p) {
				before[key(e.Platform, f)] = true
			}
		}
	}
	var out []Failing
	for _, e := range s.Evidence {
		for _, f := range e.Findings {
			if Fails(f, p) && !before[key(e.Platform, f)] {
				out = append(out, Failing{Target: s.Target, Environment: s.Environment, Digest: s.Reference.DigestStr(), Platform: e.Platform, Judged: f})
			}
		}
	}
	return out
}

// errNoDB is the config error of a command that needs the database.
func errNoDB() error {
	_, err := vuln.Open("")
	if err == nil {
		err = failure.New(failure.Config, "vulnerabilities.db", errors.New("not set"), "")
	}
	return err
}

// NeedVulnDB is vuln.Configured for a command that cannot do without one: an unset
// vulnerabilities.db is a config error.
func NeedVulnDB(cfg *config.Config) (*vuln.Database, error) {
	db, err := vuln.Configured(cfg)
	if err == nil && db == nil {
		return nil, errNoDB()
	}
	return db, err
}

// StaleDBWarning is what a command that records evidence (not a decision)
// says of a database older than vulnerabilities.max_db_age: "" when it is
// fresh enough.
func StaleDBWarning(db *vuln.Database, cfg *config.Config, now time.Time) string {
	if err := db.Fresh(now, cfg.Vulnerabilities.MaxDBAgeDuration()); err != nil {
		return fmt.Sprintf("warning: %s (the scan is recorded all the same: it is evidence, not a decision)", failure.OneLine(err.Error()))
	}
	return ""
}
