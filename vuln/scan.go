package vuln

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/anchore/grype/grype"
	"github.com/anchore/grype/grype/distro"
	"github.com/anchore/grype/grype/match"
	"github.com/anchore/grype/grype/matcher"
	"github.com/anchore/grype/grype/matcher/dpkg"
	"github.com/anchore/grype/grype/matcher/rpm"
	"github.com/anchore/grype/grype/pkg"
	"github.com/anchore/grype/grype/version"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Scan matches the packages of an SBOM (SPDX or CycloneDX JSON, or syft's
// own) against the database, as the stock `grype sbom:FILE` does with its
// default matchers, except that no package is matched by CPE alone (CPE
// guesses are where scanners' false positives come from; the distro and
// language advisories bakery's images need match by package). It returns
// the findings, sorted by severity (worst first) then id and package, and
// how many packages the SBOM listed.
//
// An SPDX document is handed to grype without what matching never reads
// (matchable): an image's SBOM is mostly its files, and decoding them was
// most of a scan's time and memory.
func (d *Database) Scan(ctx context.Context, doc []byte) ([]Finding, int, error) {
	return d.match(ctx, matchable(doc))
}

// match is Scan of the document as it is.
func (d *Database) match(ctx context.Context, doc []byte) ([]Finding, int, error) {
	pkgs, pctx, _, err := pkg.ProvideFromReader(bytes.NewReader(doc), pkg.ProviderConfig{
		SynthesisConfig: pkg.SynthesisConfig{Distro: pkg.DistroConfig{FixChannels: distro.DefaultFixChannels()}},
	})
	if err != nil {
		return nil, 0, failure.New(failure.Verify, "SBOM", fmt.Errorf("grype cannot read it: %w", err), "scan an SBOM that bakery attested")
	}
	m := grype.VulnerabilityMatcher{
		VulnerabilityProvider: d.provider,
		Matchers: matcher.NewDefaultMatchers(matcher.Config{
			Dpkg: dpkg.MatcherConfig{MissingEpochStrategy: version.MissingEpochStrategyZero},
			Rpm:  rpm.MatcherConfig{MissingEpochStrategy: version.MissingEpochStrategyZero},
		}),
	}
	matches, _, err := m.FindMatchesContext(ctx, pkgs, pctx)
	if err != nil {
		return nil, 0, fmt.Errorf("matching %d packages: %w", len(pkgs), err)
	}
	return d.findings(matches), len(pkgs), nil
}

// findings turns grype's matches into findings, one per id and package.
func (d *Database) findings(matches *match.Matches) []Finding {
	out := []Finding{}
	seen := map[string]bool{}
	for _, m := range matches.Sorted() {
		v := m.Vulnerability
		key := v.ID + "\x00" + m.Package.Name + "\x00" + m.Package.Version
		if seen[key] {
			continue
		}
		seen[key] = true
		f := Finding{
			ID: v.ID, Package: m.Package.Name, Version: m.Package.Version, Type: string(m.Package.Type), PURL: m.Package.PURL,
			Fixed: append([]string{}, v.Fix.Versions...), FixState: string(v.Fix.State), Severity: "unknown", Namespace: v.Namespace,
		}
		if f.FixState == "" {
			f.FixState = "unknown"
		}
		if v.Metadata != nil && v.Metadata.Severity != "" {
			f.Severity = strings.ToLower(v.Metadata.Severity)
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if Rank(a.Severity) != Rank(b.Severity) {
			return Rank(a.Severity) > Rank(b.Severity)
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package < b.Package
	})
	return out
}

// ScannerVersion is the grype module bakery was built with.
func ScannerVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/anchore/grype" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
