package promote

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/anchore/syft/syft/format"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
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
		SBOM:              policies.SBOM{Packages: []policies.Package{}},
		Receipts:          Receipts(rep),
		Config: policies.Config{
			AllowedBuilders: nonNil(cfg.Policy.AllowedBuilders),
			LicenseDenylist: nonNil(cfg.Policy.LicenseDenylist),
			PackageDenylist: nonNil(cfg.Policy.PackageDenylist),
		},
	}
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
			s, _, _, err := format.Decode(bytes.NewReader(a.Predicate))
			if err != nil {
				return in, failure.New(failure.Verify, rep.Reference, err, "the SBOM attestation does not decode")
			}
			for p := range s.Artifacts.Packages.Enumerate() {
				key := p.Name + "\x00" + p.Version + "\x00" + string(p.Type)
				if seen[key] {
					continue
				}
				seen[key] = true
				pkg := policies.Package{Name: p.Name, Version: p.Version, Type: string(p.Type), Licenses: []string{}}
				for _, l := range p.Licenses.ToSlice() {
					expr := l.SPDXExpression
					if expr == "" {
						expr = l.Value
					}
					pkg.Licenses = appendUnique(pkg.Licenses, licenseIDs(expr)...)
				}
				in.SBOM.Packages = append(in.SBOM.Packages, pkg)
			}
		case attest.PredicateCycloneDX:
			in.SBOM.Present = true
		case attest.PredicateSLSAv1:
			var p attest.Provenance
			if err := json.Unmarshal(a.Predicate, &p); err != nil {
				return in, failure.New(failure.Verify, rep.Reference, err, "the provenance does not decode")
			}
			prov := &policies.Provenance{BuilderID: p.RunDetails.Builder.ID, BuildType: p.BuildDefinition.BuildType, ResolvedDependencies: []string{}}
			if t := p.RunDetails.Metadata.StartedOn; t != nil {
				prov.StartedOn = t.Format("2006-01-02T15:04:05Z07:00")
			}
			if t := p.RunDetails.Metadata.FinishedOn; t != nil {
				prov.FinishedOn = t.Format("2006-01-02T15:04:05Z07:00")
			}
			for _, d := range p.BuildDefinition.ResolvedDependencies {
				prov.ResolvedDependencies = append(prov.ResolvedDependencies, d.URI)
			}
			in.Provenance = prov
		}
	}
	sort.Slice(in.SBOM.Packages, func(i, j int) bool { return in.SBOM.Packages[i].Name < in.SBOM.Packages[j].Name })
	in.SBOM.Index()
	return in, nil
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

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func repoOf(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			return ref[:i]
		}
	}
	return ref
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func sortReceipts(r []policies.Receipt) {
	sort.SliceStable(r, func(i, j int) bool { return r[i].Time < r[j].Time })
}
