package sbom

import "testing"

// FuzzPackageTable feeds the SPDX and CycloneDX reader behind
// `bakery sbom --format table` arbitrary documents.
func FuzzPackageTable(f *testing.F) {
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"bash","versionInfo":"5.2","licenseDeclared":"GPL-3.0-or-later"}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"bash","version":"5.2"}]}`))
	f.Add([]byte(`{"packages":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = PrintPackageTable(discard{}, doc)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
