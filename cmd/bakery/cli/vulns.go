package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/vuln"
)

// statusJSON is a row of bakery status: what the environment runs, and its
// vulnerability evidence in short (nil: no digest, or it could not be read).
type statusJSON struct {
	promote.Status
	Vulnerabilities *pipeline.VulnSummary `json:"vulnerabilities,omitempty"`
}

// withVulns adds to each row whose digest was read its vulnerability
// evidence in short.
func withVulns(st []promote.Status) []statusJSON {
	out := make([]statusJSON, len(st))
	for i, s := range st {
		out[i].Status = s
		if s.Digest != "" && s.Unreachable == "" {
			out[i].Vulnerabilities = pipeline.SummaryOf(s.Vulnerabilities)
		}
	}
	return out
}

// vulnsCell is a digest's vulnerability summary in a table cell: "-"
// without one; alerting when a critical or high finding counts.
func vulnsCell(s style, v *pipeline.VulnSummary) string {
	if v == nil {
		return textNone
	}
	if v.Counts["critical"] > 0 || v.Counts["high"] > 0 {
		return s.alert(v.Summary)
	}
	return v.Summary
}

// vulnID matches what find takes for a vulnerability id rather than a
// package name: CVE-2024-1234, GHSA-xxxx-xxxx-xxxx, DSA-5678-1, GO-2024-1,
// … in any case.
var vulnID = regexp.MustCompile(`(?i)^((CVE|DSA|DLA|DTSA|USN|RHSA|RHBA|ELSA|ALSA|ALAS[0-9]*|GO|PYSEC|RUSTSEC|GSD|OSV|MAL|TEMP|BIT|CGA|SUSE-SU|OPENSUSE-SU)-[0-9][0-9A-Z:.-]*|GHSA(-[0-9a-z]{4}){3})$`)

// isVulnID says whether find's argument names a vulnerability.
func isVulnID(arg string) bool { return vulnID.MatchString(strings.TrimSpace(arg)) }

// vulnMatch is where a vulnerability runs: one finding of the scan that
// counts of one platform of the digest an environment runs.
type vulnMatch struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	// Kind is container or machine-image; AMIs a machine image's in this
	// environment.
	Kind      string            `json:"kind"`
	Digest    string            `json:"digest"`
	Reference string            `json:"reference"`
	AMIs      map[string]string `json:"amis,omitempty"`
	Platform  string            `json:"platform"`
	// Finding is the finding, with what suppresses it (suppressed) if
	// anything does.
	Finding vuln.Judged `json:"finding"`
	// Scanned is when the scan finished, DBBuilt its database's build time.
	Scanned string `json:"scanned"`
	DBBuilt string `json:"dbBuilt"`
}

// vulnFindJSON is find CVE-ID -o json.
type vulnFindJSON struct {
	ID      string      `json:"id"`
	Matches []vulnMatch `json:"matches"`
	// Unscanned are the digests that run with no scan (the answer does
	// not cover them); Skipped those that do not verify.
	Unscanned []vulnWhere `json:"unscanned"`
	Skipped   []vulnWhere `json:"skipped"`
}

// vulnWhere is a digest an environment runs that find could not answer for.
type vulnWhere struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Reason      string `json:"reason,omitempty"`
}

// findVuln answers find CVE-ID: for every selected target and environment,
// the digest its tag points at is verified, and its scans that count
// (judged with bakery.yaml's VEX and waivers, and the VEX attached) are
// searched for the id. Suppressed findings are listed, marked.
func findVuln(cmd *cobra.Command, ro *rootOptions, id string, sel *selection, targets []string, parallel int) error {
	cfg, ctx, verifier, err := ro.searchSite(cmd, sel, targets)
	if err != nil {
		return err
	}
	out, down, err := searchVuln(ctx, cfg, verifier, sel, strings.ToUpper(strings.TrimSpace(id)), parallel)
	if err != nil {
		return err
	}
	partial := promote.Unreachable(cfg, down)
	if partial != nil {
		warnUnreachable(cmd.ErrOrStderr(), partial)
	}
	if ro.output == "json" {
		err = writeJSON(cmd.OutOrStdout(), out)
	} else {
		err = printVulnMatches(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), out)
	}
	if err != nil {
		return err
	}
	for _, u := range out.Unscanned {
		fmt.Fprintf(cmd.ErrOrStderr(), "not scanned: %s in %s (%s): run bakery scan %s --env %s\n", u.Target, u.Environment, u.Digest, u.Target, u.Environment)
	}
	for _, s := range out.Skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "not searched: %s in %s (%s): %s\n", s.Target, s.Environment, s.Digest, s.Reason)
	}
	if partial != nil || len(out.Skipped) == 0 {
		return partial
	}
	names := make([]string, len(out.Skipped))
	for i, s := range out.Skipped {
		names[i] = s.Target + " in " + s.Environment
	}
	return failure.New(failure.Verify, "find", errors.New("not searched, their digests do not verify: "+strings.Join(names, ", ")),
		"see bakery verify and bakery status; the matches above may be incomplete")
}

// searchVuln searches every selected target's digest in every selected
// environment for id, concurrently, and sorts what it found; down are the
// environments whose registry could not be read.
func searchVuln(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, sel *selection, id string, parallel int) (vulnFindJSON, map[string]error, error) {
	sup := vuln.NewSuppressions(ctx, cfg, verifier.Keys())
	out := vulnFindJSON{ID: id, Matches: []vulnMatch{}, Unscanned: []vulnWhere{}, Skipped: []vulnWhere{}}
	var mu sync.Mutex
	down := map[string]error{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, target := range cfg.TargetNames() {
		for i := range cfg.Environments {
			env := &cfg.Environments[i]
			if !sel.has(target, env.Name) {
				continue
			}
			g.Go(func() error {
				ms, where, skipped, err := findVulnIn(gctx, cfg, verifier, sup, target, env, id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case failure.ClassOf(err) == failure.Unavailable:
					down[env.Name] = err
					return nil
				case err != nil:
					return err
				}
				out.Matches = append(out.Matches, ms...)
				switch {
				case where == nil:
				case skipped:
					out.Skipped = append(out.Skipped, *where)
				default:
					out.Unscanned = append(out.Unscanned, *where)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return out, nil, err
	}
	order := map[string]int{}
	for i, e := range cfg.Environments {
		order[e.Name] = i
	}
	slices.SortFunc(out.Matches, func(a, b vulnMatch) int {
		return cmpFirst(strings.Compare(a.Target, b.Target), order[a.Environment]-order[b.Environment],
			strings.Compare(a.Platform, b.Platform), strings.Compare(a.Finding.Package, b.Finding.Package))
	})
	for _, l := range [][]vulnWhere{out.Unscanned, out.Skipped} {
		slices.SortFunc(l, func(a, b vulnWhere) int {
			return cmpFirst(strings.Compare(a.Target, b.Target), order[a.Environment]-order[b.Environment])
		})
	}
	return out, down, nil
}

// findVulnIn searches the digest env's tag points at for target: its
// matches, or where it could not answer (skipped: the digest does not
// verify; else it has no scan).
func findVulnIn(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, sup *vuln.Suppressions, target string, env *config.Environment, id string) ([]vulnMatch, *vulnWhere, bool, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, nil, false, err
	}
	ref, err := registry.Resolve(ctx, tag)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, nil, false, err
		}
		return nil, nil, false, nil // nothing runs there
	}
	rep, verr := verifier.Verify(ctx, ref)
	if verr != nil {
		if rep == nil && failure.ClassOf(verr) == failure.Unavailable {
			return nil, nil, false, verr
		}
		return nil, &vulnWhere{Target: target, Environment: env.Name, Digest: ref.DigestStr(), Reason: causeOf(verr)}, true, nil
	}
	ev, _ := sup.Evidence(rep, target, time.Now())
	if len(ev) == 0 {
		return nil, &vulnWhere{Target: target, Environment: env.Name, Digest: ref.DigestStr()}, false, nil
	}
	var out []vulnMatch
	for _, e := range ev {
		for _, f := range e.Findings {
			if strings.EqualFold(f.ID, id) {
				out = append(out, vulnMatch{Target: target, Environment: env.Name, Digest: ref.DigestStr(), Reference: ref.String(),
					Platform: e.Platform, Finding: f, Scanned: e.Finished, DBBuilt: e.DBBuilt})
			}
		}
	}
	if len(out) == 0 {
		return nil, nil, false, nil
	}
	kind, amis := string(builders.Container), map[string]string(nil)
	if len(rep.Platforms) == 0 {
		rec, err := machineimage.Read(ctx, ref)
		switch {
		case err == nil:
			kind, amis = string(builders.MachineImage), rec.AMIs
			if envAMIs := receipt.AMIs(rep, receipt.Bind(cfg, target), env.Name); len(envAMIs) > 0 {
				amis = envAMIs
			}
		case !errors.Is(err, machineimage.ErrNotRecord):
			return nil, nil, false, err
		}
	}
	for i := range out {
		out[i].Kind, out[i].AMIs = kind, amis
	}
	return out, nil, false, nil
}

// cmpFirst is the first non-zero comparison.
func cmpFirst(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// printVulnMatches prints a row per place the vulnerability runs.
func printVulnMatches(w io.Writer, s style, out vulnFindJSON) error {
	if len(out.Matches) == 0 {
		_, err := fmt.Fprintf(w, "%s: in no digest that runs (of those scanned)\n", out.ID)
		return err
	}
	head := []string{"TARGET", "KIND", "ENVIRONMENT", "DIGEST", "PLATFORM", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "SUPPRESSED"}
	if s.wide {
		head = append(head, "AMIS", "SCANNED")
	}
	t := newTable(head...)
	for _, m := range out.Matches {
		f := m.Finding
		sev, supp := f.Severity, textNone
		if f.Suppressed != nil {
			supp = f.Suppressed.String()
		} else {
			sev = s.alert(strings.ToUpper(sev))
			if f.Note != "" {
				supp = s.alert(f.Note)
			}
		}
		row := []string{m.Target, m.Kind, m.Environment, s.digest(m.Digest), dash(m.Platform), sev, f.Package, f.Version, fixCell(f.Finding), supp}
		if s.wide {
			row = append(row, amiList(m.AMIs), s.when(m.Scanned))
		}
		t.row(row...)
	}
	return t.write(w)
}
