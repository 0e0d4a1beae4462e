package vuln

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// TestMatchableFindsWhatTheWholeDocumentFinds: grype, handed an SBOM
// bakery generated (files, packages owning them, evidence) without its
// files and the relationships that name them, finds exactly what it finds
// in the whole document, in the same number of packages.
func TestMatchableFindsWhatTheWholeDocumentFinds(t *testing.T) {
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	img := bakerytest.Debian12Owning(t, map[string]string{"libc6": "2.36-9+deb12u7", "zlib1g": "1:1.2.13.dfsg-1", "bash": "5.2.15-2+b2"})
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(reg.Host + "/app@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.Generate(ctx, ref, "linux/amd64", sbom.Identity{Version: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct {
		From string `json:"spdxElementId"`
		To   string `json:"relatedSpdxElement"`
		Type string `json:"relationshipType"`
	}
	var whole, slim struct {
		Files         []json.RawMessage `json:"files"`
		Packages      []json.RawMessage `json:"packages"`
		Relationships []rel             `json:"relationships"`
	}
	if err := json.Unmarshal(doc.SPDX, &whole); err != nil {
		t.Fatal(err)
	}
	m := matchable(doc.SPDX)
	if err := json.Unmarshal(m, &slim); err != nil {
		t.Fatal(err)
	}
	fileRels := 0
	for _, r := range whole.Relationships {
		if strings.Contains(r.To, "SPDXRef-File-") {
			fileRels++
		}
	}
	if len(whole.Files) == 0 || fileRels == 0 {
		t.Fatalf("the SBOM has %d files and %d relationships to files: the test needs both", len(whole.Files), fileRels)
	}
	if len(slim.Files) != 0 || len(slim.Packages) != len(whole.Packages) || len(slim.Relationships) != len(whole.Relationships)-fileRels {
		t.Errorf("matchable: %d files, %d packages, %d relationships; want 0, %d, %d",
			len(slim.Files), len(slim.Packages), len(slim.Relationships), len(whole.Packages), len(whole.Relationships)-fileRels)
	}
	if len(m)*3 > len(doc.SPDX) {
		t.Errorf("matchable is %d bytes of the document's %d", len(m), len(doc.SPDX))
	}

	path, err := vulntest.Write(t.TempDir(), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"},
		vulntest.Advisory{ID: "CVE-2099-0002", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-1", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-0003", Namespace: "debian:12", Package: "zlib1g", Severity: "Low"},
		vulntest.Advisory{ID: "CVE-2099-0005", Namespace: "debian:12", Package: "bash", Severity: "Medium"},
	)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want, wantN, err := db.match(ctx, doc.SPDX)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := db.Scan(ctx, doc.SPDX)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 || wantN < 3 {
		t.Fatalf("the whole document: %d findings in %d packages, want 3 in at least 3", len(want), wantN)
	}
	if !reflect.DeepEqual(got, want) || n != wantN {
		t.Errorf("matchable document: %d packages, findings\n%+v\nwhole document: %d packages, findings\n%+v", n, got, wantN, want)
	}

	// GENERATED_FROM stays whatever its ends: syft skips the package a
	// file was generated from.
	gen := `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"p"}],"files":[{"SPDXID":"f"}],` +
		`"relationships":[{"spdxElementId":"f","relatedSpdxElement":"p","relationshipType":"GENERATED_FROM"},` +
		`{"spdxElementId":"p","relatedSpdxElement":"f","relationshipType":"CONTAINS"},` +
		`{"spdxElementId":"SPDXRef-DOCUMENT","relatedSpdxElement":"p","relationshipType":"DESCRIBES"}]}`
	slimGen := `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"p"}],` +
		`"relationships":[{"spdxElementId":"f","relatedSpdxElement":"p","relationshipType":"GENERATED_FROM"},` +
		`{"spdxElementId":"SPDXRef-DOCUMENT","relatedSpdxElement":"p","relationshipType":"DESCRIBES"}]}`
	if out := string(matchable([]byte(gen))); out != slimGen {
		t.Errorf("matchable:\n%s\nwant:\n%s", out, slimGen)
	}

	for _, other := range []string{`{"bomFormat":"CycloneDX"}`, `not json`, `{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"p","hasFiles":["f"]}]}`} {
		if out := matchable([]byte(other)); string(out) != other {
			t.Errorf("matchable(%s) = %s, want it unchanged", other, out)
		}
	}
}
