package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/inventory"
)

// findLong is find's help.
const findLong = `Search the verified SPDX SBOM of every platform of the digest each
environment's tag points at, for every target, and print each package that
matches: target, environment, digest, platform, package name, version and
type, and for machine images the environment's AMIs. With --history, also
search every digest that holds a verified receipt for the environment (what
ran there before).

PACKAGE@RANGE bounds the version: @1.2.3 (exactly), @<5.6.1, @<=, @>, @>=,
@=, or comma-joined comparisons that must all hold (@>=5.6.0,<5.6.2).
Versions compare in the package's own ordering: dpkg's for deb packages
(epochs, ~, revisions: 1.0~rc1 < 1.0 < 1.0-1 < 1:0.9), semantic versioning
for the others (dotted numbers when a version is not semver). --license,
--purl and --cpe filter too; every filter given must match.

Only attestations that verify are read: a digest is searched when it
verifies in the environment's repository as bakery verify checks it. Each
SBOM is decoded once however many environments run its digest.

Exit code 4 means an environment runs (or, with --history, ran) a digest
that does not verify, so it was not searched: the matches found are printed,
and the digests that were not searched are named on stderr. An environment
whose registry cannot be reached is shown as UNREACHABLE (in JSON, an entry
with "unreachable" set), the others are searched and printed, and the command
exits 6 after them. A malformed range exits 2.

VULN-ID (CVE-…, GHSA-…, DSA-…, DLA-…, USN-…, GO-…, any case) answers where a
known vulnerability runs instead: for every target and environment, the
digest its tag points at is verified and its scans that count (bakery scan,
build or rescan: the newest database's per platform) are searched for the
id, containers and machine images alike. Each finding is listed with its
package, version and fix; one that a signed VEX statement or a waiver
suppresses is listed too, with what suppresses it. A digest with no scan is
named on stderr ("not scanned"): the answer does not cover it.`

func newFind(ro *rootOptions) *cobra.Command {
	var q inventory.Query
	var sel selection
	var targets []string
	parallel := inventory.DefaultParallel
	cmd := &cobra.Command{
		Use:   "find [PACKAGE[@VERSION|@RANGE] | VULN-ID] [--license ID] [--purl PURL] [--cpe CPE] [--history] [--target TARGET]... [--env ENV]...",
		Short: "Find which images, in which environments, contain a package or a known vulnerability, from their verified SBOMs and scans",
		Long:  findLong,
		Example: `  bakery find openssl                          # every image with openssl, any version
  bakery find 'openssl@<3.0.11-1~deb12u2'      # which environments still run a vulnerable build
  bakery find 'libssl3@>=3.0.0,<3.0.12' --history -o json
  bakery find --license AGPL-3.0-only           # packages under a license
  bakery find openssl --target app --env prod   # only app, only in prod
  bakery find --purl pkg:deb/debian/xz-utils    # by package URL (any version, or @VERSION)
  bakery find --cpe 'cpe:2.3:a:openssl:openssl' # by CPE; * or a missing part matches anything
  bakery find CVE-2024-6119                     # where a vulnerability runs, from the verified scans
  bakery find ghsa-xxxx-xxxx-xxxx --env prod -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("%s takes at most 1 argument, got %d: %s", cmd.CommandPath(), len(args), cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			if parallel < 1 {
				return usageError("--parallel must be at least 1")
			}
			if len(args) == 1 && isVulnID(args[0]) {
				if q.History || q.License != "" || q.PURL != "" || q.CPE != "" {
					return usageError("find %s answers where a vulnerability runs now: --history, --license, --purl and --cpe are for packages", args[0])
				}
				return findVuln(cmd, ro, args[0], &sel, targets, parallel)
			}
			if len(args) == 1 {
				parsed, err := inventory.ParseQuery(args[0])
				if err != nil {
					return err
				}
				q.Name, q.Range = parsed.Name, parsed.Range
			}
			if err := q.Validate(); err != nil {
				return err
			}
			return runFind(cmd, ro, q, parallel, &sel, targets)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.License, "license", "", "only packages whose concluded or declared license names this SPDX id")
	f.StringVar(&q.PURL, "purl", "", "only packages with this package URL (pkg:TYPE/NAMESPACE/NAME[@VERSION])")
	f.StringVar(&q.CPE, "cpe", "", "only packages with a CPE 2.3 name matching this one")
	f.BoolVar(&q.History, "history", false, "also search every digest that holds a verified receipt for the environment")
	f.IntVar(&parallel, "parallel", parallel, "how many tags, digests and SBOMs to read at once")
	// The argument is the package, so targets are a flag here (docs/cli.md).
	f.StringArrayVar(&targets, "target", nil, "only this target (repeatable; default: every target)")
	sel.addEnvFlag(cmd)
	addKeyFlag(cmd, ro)
	return cmd
}

// searchSite is where find starts, for a package or a vulnerability: the
// config, the selection resolved in it, the command's bounded context and
// the site's trusted keys.
func (ro *rootOptions) searchSite(cmd *cobra.Command, sel *selection, targets []string) (*config.Config, context.Context, *attest.Verifier, error) {
	cfg, err := ro.load(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := sel.resolve(cfg, targets); err != nil {
		return nil, nil, nil, err
	}
	ctx := ro.bound(cmd, cfg)
	verifier, err := ro.newSite(cfg).trust(ctx)
	return cfg, ctx, verifier, err
}

// runFind loads the config and the trusted keys, searches, prints the
// matches, and names on stderr what could not be searched.
func runFind(cmd *cobra.Command, ro *rootOptions, q inventory.Query, parallel int, sel *selection, targets []string) error {
	cfg, ctx, verifier, err := ro.searchSite(cmd, sel, targets)
	if err != nil {
		return err
	}
	res, partial := inventory.Find(ctx, inventory.Options{Config: cfg, Verifier: verifier, Parallel: parallel}, q)
	if res == nil {
		return partial
	}
	keyOf := func(m inventory.Match) (string, string) { return m.Target, m.Environment }
	res.Matches, res.Unreachable = selected(sel, res.Matches, keyOf), selected(sel, res.Unreachable, keyOf)
	res.Skipped = selected(sel, res.Skipped, func(s inventory.Skipped) (string, string) { return s.Target, s.Environment })
	if len(res.Unreachable) == 0 {
		partial = nil // only environments that were not asked about are down
	}
	if partial != nil {
		warnUnreachable(cmd.ErrOrStderr(), partial)
	}
	if ro.output == "json" {
		err = writeJSON(cmd.OutOrStdout(), append(res.Matches, res.Unreachable...))
	} else {
		err = printMatches(cmd.OutOrStdout(), ro.style(cmd.OutOrStdout()), res, q.History)
	}
	if err != nil {
		return err
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "not searched: %s in %s (%s): %s\n", s.Target, s.Environment, s.Digest, s.Reason)
	}
	if partial != nil || len(res.Skipped) == 0 {
		return partial // exit 6, after what could be read
	}
	names := make([]string, len(res.Skipped))
	for i, s := range res.Skipped {
		names[i] = s.Target + " in " + s.Environment
	}
	return failure.New(failure.Verify, "find", errors.New("not searched, their digests do not verify: "+strings.Join(names, ", ")),
		"see bakery verify and bakery status; the matches above may be incomplete")
}

// printMatches prints a row per match: in text, short digests and REVOKED;
// with -o wide, full digests, the revocation's reason and the AMIs.
func printMatches(w io.Writer, s style, res *inventory.Result, history bool) error {
	if len(res.Matches) == 0 {
		if _, err := fmt.Fprintf(w, "no matching package in %d SBOMs (%d digests checked)\n", res.SBOMs, res.Verified); err != nil || len(res.Unreachable) == 0 {
			return err
		}
	}
	head := []string{"TARGET", "ENVIRONMENT", "DIGEST", "PLATFORM", "PACKAGE", "VERSION", "TYPE", "REVOKED"}
	if s.wide {
		head = append(head, "AMIS")
	}
	if history {
		head = append(head, "CURRENT")
	}
	t := newTable(head...)
	for _, m := range res.Unreachable {
		row := []string{m.Target, m.Environment, s.alert(textUnreachable)}
		for len(row) < len(head) {
			row = append(row, textNone)
		}
		t.row(row...)
	}
	for _, m := range res.Matches {
		rev := textNone
		if m.Revoked != nil {
			rev = s.alert(textRevoked)
			if s.wide {
				rev += ": " + m.Revoked.Reason
			}
		}
		row := []string{m.Target, m.Environment, s.digest(m.Digest), m.Platform, m.Package.Name, m.Package.Version, dash(m.Package.Type), rev}
		if s.wide {
			row = append(row, amiList(m.AMIs))
		}
		if history {
			row = append(row, yesNo(m.Current))
		}
		t.row(row...)
	}
	return t.write(w)
}
