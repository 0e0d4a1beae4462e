package vuln

import (
	"encoding/json"
	"strings"
)

// matchable is an SPDX JSON document less what grype's matching never
// reads: its files, and the relationships that name anything but a
// package or the document (a package CONTAINS a file, a file is evidence
// of a package). Packages, their external references (purls, CPEs), the
// operating system, and the relationships between packages (DESCRIBES,
// DEPENDENCY_OF, ownership by file overlap) stay as they are. Anything
// that is not an SPDX JSON document, or not one this can read, is returned
// as it is, for grype to read or refuse.
//
// TestMatchableFindsWhatTheWholeDocumentFinds holds it to the findings
// and package count of the whole document.
func matchable(doc []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(doc, &top) != nil || top["spdxVersion"] == nil {
		return doc
	}
	var self string
	var pkgs []struct {
		SPDXID   string   `json:"SPDXID"`
		HasFiles []string `json:"hasFiles"`
	}
	var rels []json.RawMessage
	if json.Unmarshal(top["SPDXID"], &self) != nil || json.Unmarshal(top["packages"], &pkgs) != nil ||
		(top["relationships"] != nil && json.Unmarshal(top["relationships"], &rels) != nil) {
		return doc
	}
	keep := map[string]bool{self: true}
	for _, p := range pkgs {
		if len(p.HasFiles) > 0 {
			return doc // names files: left whole rather than half
		}
		keep[p.SPDXID] = true
	}
	kept := make([]json.RawMessage, 0, len(rels))
	for _, r := range rels {
		var ends struct {
			From string `json:"spdxElementId"`
			To   string `json:"relatedSpdxElement"`
		}
		if json.Unmarshal(r, &ends) != nil {
			return doc
		}
		if keep[ends.From] && (keep[ends.To] || strings.HasPrefix(ends.To, "NOASSERTION") || ends.To == "NONE") {
			kept = append(kept, r)
		}
	}
	delete(top, "files")
	if top["relationships"] != nil {
		b, err := json.Marshal(kept)
		if err != nil {
			return doc
		}
		top["relationships"] = b
	}
	out, err := json.Marshal(top)
	if err != nil {
		return doc
	}
	return out
}
