package promote

import (
	"strings"
	"testing"
)

func TestLicenseIDs(t *testing.T) {
	got := strings.Join(licenseIDs("BSD-4-Clause-UC AND (GPL-2.0-only OR GPL-3.0-or-later WITH Classpath-exception-2.0)"), " ")
	want := "BSD-4-Clause-UC GPL-2.0-only GPL-3.0-or-later Classpath-exception-2.0"
	if got != want {
		t.Errorf("licenseIDs = %q, want %q", got, want)
	}
	if got := appendUnique([]string{"MIT"}, "MIT", "ISC"); strings.Join(got, " ") != "MIT ISC" {
		t.Errorf("appendUnique = %v", got)
	}
}

func TestSPDXPackages(t *testing.T) {
	doc := []byte(`{"spdxVersion":"SPDX-2.3","packages":[
	 {"name":"bash","versionInfo":"5.2.15-2+b2","licenseDeclared":"GPL-3.0-or-later AND (MIT OR ISC)","licenseConcluded":"NOASSERTION",
	  "externalRefs":[{"referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:bash"},{"referenceType":"purl","referenceLocator":"pkg:deb/debian/bash@5.2.15-2+b2"}]},
	 {"name":"/","versionInfo":"","licenseDeclared":"NOASSERTION"}]}`)
	pkgs, err := spdxPackages(doc)
	if err != nil || len(pkgs) != 1 {
		t.Fatalf("%+v %v", pkgs, err)
	}
	p := pkgs[0]
	if p.Name != "bash" || p.Version != "5.2.15-2+b2" || p.Type != "deb" || strings.Join(p.Licenses, " ") != "GPL-3.0-or-later MIT ISC" {
		t.Errorf("package %+v", p)
	}
	if _, err := spdxPackages([]byte(`{"bomFormat":"CycloneDX"}`)); err == nil {
		t.Error("a CycloneDX document was read as SPDX")
	}
}
