package promote

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
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

// TestTestResultBinding: a verified test result counts only for the target
// it names and, when it names a platform, only when its signed subjects name
// that platform's image; the signed environment is kept as it is.
func TestTestResultBinding(t *testing.T) {
	plats := []attest.PlatformImage{{Platform: "linux/amd64", Digest: "sha256:aaa"}, {Platform: "linux/arm64", Digest: "sha256:bbb"}}
	pred := func(target, platform string) json.RawMessage {
		return json.RawMessage(`{"result":"PASSED","configuration":[{"name":"s.yaml","digest":{"sha256":"00"}}],"passedTests":["a"],"warnedTests":[],"failedTests":[],` +
			`"bakery":{"suite":"structure","target":"` + target + `","platform":"` + platform + `","environment":"staging","runner":"n1",` +
			`"started":"2026-01-01T10:00:00Z","finished":"2026-01-01T10:01:00Z"}}`)
	}
	idx, amd := "r/app@sha256:idx", "r/app@sha256:aaa"
	for _, tc := range []struct {
		name     string
		a        attest.AttestationInfo
		want     bool
		platform string
	}{
		{"bound", attest.AttestationInfo{Predicate: pred("app", "linux/amd64"), Subjects: []string{idx, amd}, KeyID: "k"}, true, "linux/amd64"},
		{"whole image (JUnit)", attest.AttestationInfo{Predicate: pred("app", ""), Subjects: []string{idx}, KeyID: "k"}, true, ""},
		{"another target's", attest.AttestationInfo{Predicate: pred("web", "linux/amd64"), Subjects: []string{idx, amd}}, false, ""},
		{"claims arm64, subjects name amd64", attest.AttestationInfo{Predicate: pred("app", "linux/arm64"), Subjects: []string{idx, amd}}, false, ""},
		{"claims a platform, names none", attest.AttestationInfo{Predicate: pred("app", "linux/amd64"), Subjects: []string{idx}}, false, ""},
		{"not a test result", attest.AttestationInfo{Predicate: json.RawMessage(`{"spdxVersion":"SPDX-2.3"}`), Subjects: []string{idx}}, false, ""},
	} {
		got, ok := testResult(tc.a, "app", plats)
		if ok != tc.want {
			t.Errorf("%s: counted = %v, want %v", tc.name, ok, tc.want)
			continue
		}
		if ok && (got.Platform != tc.platform || got.Environment != "staging" || got.Result != "PASSED" || got.KeyID != "k" ||
			got.Finished != "2026-01-01T10:01:00Z" || got.AgeSeconds <= 0) {
			t.Errorf("%s: %+v", tc.name, got)
		}
	}
}
