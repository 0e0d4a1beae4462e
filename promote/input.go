package promote

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
)

// Input builds the policy input for promoting a verified digest into env.
func Input(rep *attest.Report, target, from string, cfg *config.Config, env *config.Environment) (policies.Input, error) {
	_, idx, _ := cfg.Environment(env.Name)
	in := policies.Input{
		Image:             policies.Image{Repository: repoOf(rep.Reference), Digest: rep.Digest.String(), Reference: rep.Reference},
		Target:            target,
		Environment:       env.Name,
		SourceEnvironment: from,
		AcceptDirect:      env.AcceptDirect,
		Signatures:        []policies.Signature{},
		SBOM:              policies.SBOM{Packages: []policies.Package{}, Platforms: map[string][]policies.Package{}},
		Receipts:          receipt.Read(rep, receipt.Bind(cfg, target)),
		Config:            policies.NewConfig(cfg.Policy.AllowedBuilders, cfg.Policy.LicenseDenylist, cfg.Policy.PackageDenylist),
		MaxAgeDays:        env.MaxAgeDays,
	}
	in.Config.LicenseAllowlist = append(in.Config.LicenseAllowlist, cfg.Policy.LicenseAllowlist...)
	addTestEvidence(&in, rep, cfg, target, env)
	in.Config.PackageAllowlist = append(in.Config.PackageAllowlist, cfg.Policy.PackageAllowlist...)
	if idx > 0 {
		in.PreviousEnvironment = cfg.Environments[idx-1].Name
	}
	if in.Receipts == nil {
		in.Receipts = []policies.Receipt{}
	}
	for _, s := range rep.Signatures {
		in.Signatures = append(in.Signatures, policies.Signature{KeyID: s.KeyID, SignedAt: s.SignedAt})
	}
	seen := map[string]bool{}
	for _, a := range rep.Attestations {
		switch a.PredicateType {
		case attest.PredicateSPDX:
			in.SBOM.Present = true
			pkgs, err := spdxPackages(a.Predicate)
			if err != nil {
				return in, failure.New(failure.Verify, rep.Reference, err, "the SBOM attestation does not decode")
			}
			plat := platformOf(a.Subjects, rep.Platforms)
			in.SBOM.Platforms[plat] = append(in.SBOM.Platforms[plat], pkgs...)
			for _, pkg := range pkgs {
				key := pkg.Name + "\x00" + pkg.Version + "\x00" + pkg.Type
				if !seen[key] {
					seen[key] = true
					in.SBOM.Packages = append(in.SBOM.Packages, pkg)
				}
			}
		case attest.PredicateCycloneDX:
			in.SBOM.Present = true
		case imagetest.PredicateType:
			if tr, ok := testResult(a, target, rep.Platforms); ok {
				in.Tests = append(in.Tests, tr)
			}
		case attest.PredicateSLSAv1:
			var err error
			if in.Provenance, in.AgeDays, err = provenanceOf(a); err != nil {
				return in, failure.New(failure.Verify, rep.Reference, err, "the provenance does not decode")
			}
		}
	}
	sort.Slice(in.SBOM.Packages, func(i, j int) bool { return in.SBOM.Packages[i].Name < in.SBOM.Packages[j].Name })
	in.SBOM.Index()
	return in, nil
}

// provenanceOf is a verified provenance as the policies see it, and how many
// whole days ago its build finished (nil when it does not say).
func provenanceOf(a attest.AttestationInfo) (*policies.Provenance, *int, error) {
	var p attest.Provenance
	if err := json.Unmarshal(a.Predicate, &p); err != nil {
		return nil, nil, err
	}
	prov := &policies.Provenance{BuilderID: p.RunDetails.Builder.ID, BuildType: p.BuildDefinition.BuildType, ResolvedDependencies: []string{}}
	var age *int
	if t := p.RunDetails.Metadata.StartedOn; t != nil {
		prov.StartedOn = t.Format("2006-01-02T15:04:05Z07:00")
	}
	if t := p.RunDetails.Metadata.FinishedOn; t != nil {
		prov.FinishedOn = t.Format("2006-01-02T15:04:05Z07:00")
		days := int(time.Since(*t).Hours() / 24)
		age = &days
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		prov.ResolvedDependencies = append(prov.ResolvedDependencies, d.URI)
	}
	return prov, age, nil
}

// addTestEvidence fills what the tested and tested_in policies compare the
// results with: the digest's platforms, the target's suites bakery runs and
// the environment's tested_in.
func addTestEvidence(in *policies.Input, rep *attest.Report, cfg *config.Config, target string, env *config.Environment) {
	in.Tests = []policies.TestResult{}
	for _, p := range rep.Platforms {
		in.Image.Platforms = append(in.Image.Platforms, p.Platform)
	}
	if t, err := cfg.LookupTarget(target); err == nil {
		for _, s := range t.RunnableTests() {
			in.Config.Tests = append(in.Config.Tests, s.Name)
		}
	}
	if ti := env.TestedIn; ti != nil {
		in.TestedIn = &policies.TestedIn{Environment: ti.Environment, Suites: ti.Suites, SoakSeconds: int(ti.SoakDuration().Seconds())}
	}
}

// testResult is a verified test-result attestation as the policies see it,
// when it is bound to target and, for a result about one platform, to that
// platform's image among its signed subjects: a result signed for another
// target, or claiming a platform its subjects do not name, counts for
// nothing. The environment is the one signed in the result.
func testResult(a attest.AttestationInfo, target string, platforms []attest.PlatformImage) (policies.TestResult, bool) {
	r, ok := boundResult(a, target, platforms)
	if !ok {
		return policies.TestResult{}, false
	}
	return policies.TestResult{
		Suite: r.Bakery.Suite, Platform: r.Bakery.Platform, Environment: r.Bakery.Environment, Result: string(r.Result),
		Finished: finishedOf(r), AgeSeconds: int(time.Since(r.Bakery.Finished).Seconds()),
		KeyID: a.KeyID, Runner: r.Bakery.Runner,
	}, true
}

// boundResult is a verified test-result attestation's predicate when it
// counts for target among platforms (testResult says when): the one
// binding every command and policy shares.
func boundResult(a attest.AttestationInfo, target string, platforms []attest.PlatformImage) (imagetest.Result, bool) {
	r, err := imagetest.ParsePredicate(a.Predicate)
	if err != nil || r.Bakery.Target != target {
		return imagetest.Result{}, false
	}
	if r.Bakery.Platform != "" && len(platforms) > 0 && platformOf(a.Subjects, platforms) != r.Bakery.Platform {
		return imagetest.Result{}, false
	}
	return r, true
}

// Packages is every package of a verified report's SPDX SBOMs, once each,
// sorted by name: what bakery diff compares.
func Packages(rep *attest.Report) ([]policies.Package, error) {
	var out []policies.Package
	seen := map[string]bool{}
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateSPDX {
			continue
		}
		pkgs, err := spdxPackages(a.Predicate)
		if err != nil {
			return nil, failure.New(failure.Verify, rep.Reference, err, "the SBOM attestation does not decode")
		}
		for _, p := range pkgs {
			if key := p.Name + "\x00" + p.Version + "\x00" + p.Type; !seen[key] {
				seen[key] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// spdxPackages reads the packages of an SPDX 2.x JSON document: name,
// version, the purl type (deb, rpm, npm, …) and the license ids of the
// declared and concluded licenses. It reads only these fields, which keeps a
// policy decision on a large SBOM fast.
func spdxPackages(doc []byte) ([]policies.Package, error) {
	var d struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name             string `json:"name"`
			VersionInfo      string `json:"versionInfo"`
			LicenseDeclared  string `json:"licenseDeclared"`
			LicenseConcluded string `json:"licenseConcluded"`
			ExternalRefs     []struct {
				ReferenceType    string `json:"referenceType"`
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(d.SPDXVersion, "SPDX-") {
		return nil, fmt.Errorf("not an SPDX document (spdxVersion %q)", d.SPDXVersion)
	}
	var out []policies.Package
	for _, p := range d.Packages {
		typ := ""
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				if t, _, ok := strings.Cut(strings.TrimPrefix(r.ReferenceLocator, "pkg:"), "/"); ok {
					typ = t
				}
				break
			}
		}
		if typ == "" {
			continue // files and the document's own root are not packages
		}
		pkg := policies.Package{Name: p.Name, Version: p.VersionInfo, Type: typ, Licenses: []string{}}
		for _, expr := range []string{p.LicenseDeclared, p.LicenseConcluded} {
			if expr != "" && expr != "NOASSERTION" && expr != "NONE" {
				pkg.Licenses = appendUnique(pkg.Licenses, licenseIDs(expr)...)
			}
		}
		out = append(out, pkg)
	}
	return out, nil
}

// licenseIDs splits an SPDX expression ("GPL-2.0-only AND (MIT OR
// Apache-2.0)") into its license ids, so that a denylist matches any
// license a package may be under.
func licenseIDs(expr string) []string {
	var ids []string
	for _, f := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(expr)) {
		switch strings.ToUpper(f) {
		case "AND", "OR", "WITH":
			continue
		}
		ids = append(ids, f)
	}
	return ids
}

func appendUnique(list []string, more ...string) []string {
	for _, m := range more {
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

func repoOf(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			return ref[:i]
		}
	}
	return ref
}

// platformOf names the platform an SBOM is about: the platform image among
// its subjects, or "image" for an image that is not an index.
func platformOf(subjects []string, platforms []attest.PlatformImage) string {
	for _, p := range platforms {
		for _, s := range subjects {
			if strings.HasSuffix(s, "@"+p.Digest) {
				return p.Platform
			}
		}
	}
	return "image"
}
