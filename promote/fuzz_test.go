package promote

import "testing"

// FuzzSPDXPackages feeds the SPDX reader behind the policy input arbitrary
// documents: it returns an error or packages, and never panics.
func FuzzSPDXPackages(f *testing.F) {
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"bash","versionInfo":"5.2","licenseDeclared":"GPL-3.0-or-later AND (MIT OR Apache-2.0)","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:deb/debian/bash@5.2"}]}]}`))
	f.Add([]byte(`{"spdxVersion":"CycloneDX"}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:"}]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		pkgs, err := spdxPackages(doc)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Type == "" {
				t.Fatalf("a package without a purl type was read: %+v", p)
			}
		}
	})
}
