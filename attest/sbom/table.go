package sbom

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/anchore/syft/syft/format"
)

// PrintPackageTable decodes an SBOM (SPDX or CycloneDX JSON) and prints its
// packages as NAME, VERSION, TYPE, sorted by name.
func PrintPackageTable(w io.Writer, doc []byte) error {
	s, _, _, err := format.Decode(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("decoding SBOM: %w", err)
	}
	type row struct{ name, version, typ string }
	var rows []row
	for p := range s.Artifacts.Packages.Enumerate() {
		rows = append(rows, row{p.Name, p.Version, string(p.Type)})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].name != rows[j].name {
			return rows[i].name < rows[j].name
		}
		return rows[i].version < rows[j].version
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, r.version, r.typ)
	}
	return tw.Flush()
}
