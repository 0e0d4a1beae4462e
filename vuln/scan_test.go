package vuln_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// spdx is a minimal SPDX 2.3 document as syft writes one for a Debian 12
// image: packages with purls that carry the distro.
func spdx(t *testing.T, pkgs ...[2]string) []byte {
	t.Helper()
	var ps []map[string]any
	for i, p := range pkgs {
		ps = append(ps, map[string]any{
			"name": p[0], "SPDXID": "SPDXRef-Package-deb-" + p[0] + "-" + string(rune('a'+i)), "versionInfo": p[1],
			"downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
			"externalRefs": []map[string]any{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
				"referenceLocator": "pkg:deb/debian/" + p[0] + "@" + p[1] + "?arch=amd64&distro=debian-12"}},
		})
	}
	b, err := json.Marshal(map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "test",
		"documentNamespace": "https://bakery.invalid/test", "creationInfo": map[string]any{"created": "2026-01-01T00:00:00Z", "creators": []string{"Tool: syft"}},
		"packages": ps,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScanFindsWhatTheDatabaseSays(t *testing.T) {
	built := time.Now().Add(-2 * time.Hour).UTC().Round(time.Second)
	path, err := vulntest.Write(t.TempDir(), built,
		vulntest.Advisory{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"},
		vulntest.Advisory{ID: "CVE-2099-0002", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-1", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-0003", Namespace: "debian:12", Package: "zlib1g", Severity: "Low"},
		vulntest.Advisory{ID: "CVE-2099-0004", Namespace: "debian:11", Package: "libc6", Fixed: "2.99", Severity: "Critical"},
	)
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st := db.Status(); !st.Built.Equal(built) || st.Schema == "" || st.Checksum == "" {
		t.Errorf("status %+v, want built %s, a schema and a checksum", st, built)
	}
	got, n, err := db.Scan(context.Background(), spdx(t, [2]string{"libc6", "2.36-9+deb12u7"}, [2]string{"zlib1g", "1:1.2.13.dfsg-1"}, [2]string{"bash", "5.2.15-2+b2"}))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("scanned %d packages, want 3", n)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID+" "+f.Package+" "+f.Severity+" "+f.FixState+" "+strings.Join(f.Fixed, ","))
	}
	want := []string{"CVE-2099-0001 libc6 high fixed 2.36-9+deb12u99", "CVE-2099-0003 zlib1g low not-fixed "}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant (the fixed and the other release's advisories do not match):\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	if err := db.Fresh(time.Now(), time.Hour); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "max_db_age") {
		t.Errorf("a 2h old database with max 1h: %v, want a config error naming max_db_age", err)
	}
	if err := db.Fresh(time.Now(), 3*time.Hour); err != nil {
		t.Errorf("a 2h old database with max 3h: %v", err)
	}
}

func TestOpenRefusesWhatIsNotADatabase(t *testing.T) {
	dir := t.TempDir()
	good, err := vulntest.Write(filepath.Join(dir, "good"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(sub string, data []byte) string {
		p := filepath.Join(dir, sub, "vulnerability.db")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, path := range map[string]string{
		"missing":      filepath.Join(dir, "none", "vulnerability.db"),
		"truncated":    write("truncated", b[:len(b)/2]),
		"not sqlite":   write("text", []byte(strings.Repeat("not a database\n", 20))),
		"wrong schema": write("schema", wrongSchema(t, b)),
		"wrong name":   filepath.Join(dir, "good", "import.json"),
	} {
		_, err := vuln.Open(path)
		var f *failure.Error
		if !errors.As(err, &f) || f.Class != failure.Config || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line config error naming %s", name, err, path)
		}
	}
}

// wrongSchema is a copy of a database whose metadata says schema v5.
func wrongSchema(t *testing.T, b []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "vulnerability.db")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := vulntest.SetModel(p, 5); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
