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
