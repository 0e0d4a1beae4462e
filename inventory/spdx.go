package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// spdxDocument is the part of an SPDX 2.3 JSON document Find reads.
type spdxDocument struct {
	SPDXVersion string        `json:"spdxVersion"`
	Packages    []spdxPackage `json:"packages"`
}

type spdxPackage struct {
	SPDXID           string `json:"SPDXID"`
	Name             string `json:"name"`
	VersionInfo      string `json:"versionInfo"`
	LicenseConcluded string `json:"licenseConcluded"`
	LicenseDeclared  string `json:"licenseDeclared"`
	ExternalRefs     []struct {
		ReferenceType    string `json:"referenceType"`
		ReferenceLocator string `json:"referenceLocator"`
	} `json:"externalRefs"`
}

// ParseSPDX reads the packages of an SPDX 2.3 JSON document: name, version,
// concluded and declared licenses (NOASSERTION and NONE left out), package
// URL (whose type is the package's Type) and CPEs. The document's root (the
// image itself, SPDXRef-DocumentRoot-…) is not a package of it.
func ParseSPDX(doc []byte) ([]Package, error) {
	var d spdxDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("reading the SPDX document: %w", err)
	}
	if !strings.HasPrefix(d.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("reading the SPDX document: spdxVersion %q is not SPDX 2", d.SPDXVersion)
	}
	out := make([]Package, 0, len(d.Packages))
	for _, sp := range d.Packages {
		if strings.HasPrefix(sp.SPDXID, "SPDXRef-DocumentRoot-") {
			continue
		}
		p := Package{Name: sp.Name, Version: sp.VersionInfo}
		for _, l := range []string{sp.LicenseConcluded, sp.LicenseDeclared} {
			if l != "" && l != "NOASSERTION" && l != "NONE" && !slices.Contains(p.Licenses, l) {
				p.Licenses = append(p.Licenses, l)
			}
		}
		for _, r := range sp.ExternalRefs {
			switch r.ReferenceType {
			case "purl":
				if p.PURL == "" {
					p.PURL, p.Type = r.ReferenceLocator, purlType(r.ReferenceLocator)
				}
			case "cpe23Type", "cpe22Type":
				p.CPEs = append(p.CPEs, r.ReferenceLocator)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// purlType is the type of a package URL (pkg:TYPE/…), lower-cased.
func purlType(purl string) string {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	typ, _, _ := strings.Cut(strings.TrimLeft(rest, "/"), "/")
	return strings.ToLower(typ)
}
