package promote

import (
	"context"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/vuln"
)

// VulnerabilitiesPolicy is the policy that gates on known vulnerabilities.
const VulnerabilitiesPolicy = "vulnerabilities"

// Database is the vulnerability database bakery.yaml names, opened once per
// Promoter; nil (and no error) when none is configured.
func (p *Promoter) Database() (*vuln.Database, error) {
	p.dbOnce.Do(func() {
		p.db, p.dbErr = vuln.Configured(p.opts.Config)
	})
	return p.db, p.dbErr
}

// Suppressions are bakery.yaml's signed VEX files and waivers, read once
// per Promoter.
func (p *Promoter) Suppressions(ctx context.Context) *vuln.Suppressions {
	p.supOnce.Do(func() {
		p.sup = vuln.NewSuppressions(ctx, p.opts.Config, p.opts.Verifier.Keys())
	})
	return p.sup
}

// Vulnerabilities is the vulnerability evidence of a verified report for
// target, judged by the VEX attached to it and bakery.yaml's VEX files and
// waivers: what every command shows (vuln.Suppressions.Evidence).
func (p *Promoter) Vulnerabilities(ctx context.Context, rep *attest.Report, target string) ([]vuln.Evidence, []vuln.IgnoredVEX) {
	return p.Suppressions(ctx).Evidence(rep, target, time.Now())
}

// addVulnerabilities fills the vulnerabilities policy's input when env lists
// it. With rescan (a promotion, not a preview or an import), a platform
// whose scan is missing, older than the policy's max_age or made with an
// older database than the one loaded is scanned again first, the new
// signed scan attached to the digest and added to rep, so that the copy
// carries it and the receipt names it. A decision never rests on a database
// older than vulnerabilities.max_db_age: that is a config error.
func (p *Promoter) addVulnerabilities(ctx context.Context, in *policies.Input, rep *attest.Report, j Judgement) error {
	if !slices.Contains(j.Env.Policies, VulnerabilitiesPolicy) {
		return nil
	}
	v := &in.Vulnerabilities
	v.Platforms, v.Scans = requiredPlatforms(rep), []policies.VulnScan{}
	pol := j.Env.Vulnerabilities
	if pol != nil {
		v.Policy = &policies.VulnPolicy{DenySeverity: pol.DenySeverity, DenyRank: vuln.Rank(pol.DenySeverity), OnlyFixed: pol.OnlyFixed,
			DenyIDs: append([]string{}, pol.DenyIDs...), MaxAgeSeconds: int(pol.MaxAgeDuration().Seconds())}
	}
	db, err := p.Database()
	if err != nil {
		return err
	}
	now := time.Now()
	if db != nil && !j.Offline {
		if err := db.Fresh(now, p.opts.Config.Vulnerabilities.MaxDBAgeDuration()); err != nil {
			return err
		}
		v.Database = db.Status().Built.Format(time.RFC3339)
	}
	ev, _ := p.Vulnerabilities(ctx, rep, j.Target)
	if j.Rescan && db != nil && pol != nil && stale(ev, v.Platforms, pol.MaxAgeDuration(), db.Status().Built, now) {
		if err := p.rescan(ctx, db, rep, j); err != nil {
			return err
		}
		ev, _ = p.Vulnerabilities(ctx, rep, j.Target)
	}
	for _, e := range ev {
		s := policies.VulnScan{Platform: e.Platform, Finished: e.Finished, AgeSeconds: int(now.Sub(e.FinishedAt()).Seconds()),
			DBBuilt: e.DBBuilt, KeyID: e.KeyID, Findings: []policies.VulnFinding{}}
		for _, f := range e.Findings {
			pf := policies.VulnFinding{ID: f.ID, Package: f.Package, Version: f.Version, Severity: f.Severity, Rank: vuln.Rank(f.Severity),
				FixedIn: append([]string{}, f.Fixed...), HasFix: f.HasFix()}
			if f.Suppressed != nil {
				pf.Suppressed = f.Suppressed.String()
			}
			s.Findings = append(s.Findings, pf)
		}
		v.Scans = append(v.Scans, s)
	}
	return nil
}

// requiredPlatforms are the platforms that need a scan: an index's, or ""
// for a single image or a machine image.
func requiredPlatforms(rep *attest.Report) []string {
	if len(rep.Platforms) == 0 {
		return []string{""}
	}
	out := make([]string, len(rep.Platforms))
	for i, p := range rep.Platforms {
		out[i] = p.Platform
	}
	return out
}

// stale says whether a platform lacks a scan, or its scan is older than
// maxAge or was made with a database built before built.
func stale(ev []vuln.Evidence, platforms []string, maxAge time.Duration, built, now time.Time) bool {
	for _, pl := range platforms {
		i := slices.IndexFunc(ev, func(e vuln.Evidence) bool { return e.Platform == pl })
		if i < 0 || now.Sub(ev[i].FinishedAt()) > maxAge || ev[i].DBBuiltAt().Before(built) {
			return true
		}
	}
	return false
}

// rescan scans rep's verified SBOMs with db, attaches the signed scans to
// rep's digest, and replaces rep's scans with the verified ones now there.
func (p *Promoter) rescan(ctx context.Context, db *vuln.Database, rep *attest.Report, j Judgement) error {
	ref, err := name.NewDigest(rep.Reference)
	if err != nil {
		return err
	}
	scans, err := db.ScanReport(ctx, rep, j.Target, j.From)
	if err != nil {
		return err
	}
	signer, err := p.opts.Signer.Get(ctx)
	if err != nil {
		return err
	}
	if err := vuln.Record(ctx, signer, p.opts.Verifier.Keys(), ref, scans); err != nil {
		return err
	}
	atts, _, err := p.opts.Verifier.Attestations(ctx, ref, []string{vuln.PredicateType})
	if err != nil {
		return err
	}
	rep.Attestations = vuln.ReplaceScans(rep.Attestations, atts)
	return nil
}

// vulnRecord is what a receipt records of the vulnerabilities policy's
// decision on rep for target in env: nil when env does not list it.
func (p *Promoter) vulnRecord(ctx context.Context, rep *attest.Report, target string, env *config.Environment) *receipt.Vulnerabilities {
	if !slices.Contains(env.Policies, VulnerabilitiesPolicy) {
		return nil
	}
	ev, _ := p.Vulnerabilities(ctx, rep, target)
	r := &receipt.Vulnerabilities{Summary: vuln.Summary(ev), Counted: []string{}, Suppressed: []string{}}
	for _, e := range ev {
		if e.DBBuilt > r.Database {
			r.Database = e.DBBuilt
		}
		for _, f := range e.Findings {
			if f.Suppressed != nil {
				r.Suppressed = appendOnce(r.Suppressed, f.ID+" in "+f.Package+": "+f.Suppressed.String())
			} else {
				r.Counted = appendOnce(r.Counted, f.ID+" ("+f.Severity+", "+f.Package+")")
			}
		}
	}
	return r
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
