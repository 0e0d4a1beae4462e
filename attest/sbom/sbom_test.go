package sbom_test

import (
	"context"
	"crypto/md5"  //nolint:gosec // dpkg's md5sums
	"crypto/sha1" //nolint:gosec // SPDX's file checksum
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/attest/sbomtest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
)

// debianFiles is a small Debian root: two installed packages, one of them
// with files listed in its dpkg info, and their contents.
var debianFiles = map[string]string{
	"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
	"var/lib/dpkg/status": `Package: hello
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 100
Maintainer: Example <hello@example.com>
Architecture: amd64
Version: 2.10-3
Description: example package

Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 10
Maintainer: Example <base@example.com>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

`,
	"var/lib/dpkg/info/hello.list":      "/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/share/doc/hello/copyright\n",
	"usr/bin/hello":                     "#!/bin/sh\necho hello\n",
	"usr/share/doc/hello/copyright":     "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3.0-or-later\n",
	"var/lib/dpkg/info/base-files.list": "/.\n/etc\n/etc/os-release\n",
}

// pushDebian pushes debianFiles as a linux/amd64 image to an in-process
// registry.
func pushDebian(t *testing.T, repo string) name.Digest {
	t.Helper()
	files := map[string][]byte{}
	for p, c := range debianFiles {
		files[p] = []byte(c)
	}
	// dpkg lists a package's files, with their MD5s, in info/PKG.md5sums.
	var md5sums strings.Builder
	for _, p := range []string{"usr/bin/hello", "usr/share/doc/hello/copyright"} {
		fmt.Fprintf(&md5sums, "%x  %s\n", md5.Sum([]byte(debianFiles[p])), p)
	}
	files["var/lib/dpkg/info/hello.md5sums"] = []byte(md5sums.String())
	img, err := crane.Image(files)
	if err != nil {
		t.Fatal(err)
	}
	return bakerytest.NewRegistry(t).Push(t, repo, bakerytest.WithPlatform(t, img, "linux/amd64"))
}

var identity = sbom.Identity{Version: "1.2.3", Organization: "Example Corp", Namespace: "https://sbom.example.com/golden/"}

// spdxDoc is the part of an SPDX document the assertions read.
type spdxDoc struct {
	Namespace    string `json:"documentNamespace"`
	CreationInfo struct {
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		Name string `json:"name"`
		Code *struct {
			Value string `json:"packageVerificationCodeValue"`
		} `json:"packageVerificationCode"`
	} `json:"packages"`
	Files []struct {
		Name      string `json:"fileName"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
}

// TestSBOMsPassTheOfficialValidators: the SPDX document passes SPDX 2.3
// (tools-golang plus the rules it leaves out) and the CycloneDX document
// passes the CycloneDX project's schema validator; the creator is bakery and
// the configured organization, the namespace sits under the configured URI,
// and the verification code is the one the files' real bytes give.
func TestSBOMsPassTheOfficialValidators(t *testing.T) {
	ref := pushDebian(t, "golden")
	s, err := sbom.Generate(context.Background(), ref, "linux/amd64", identity, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sbomtest.SPDX(s.SPDX); err != nil {
		t.Errorf("SPDX: %v", err)
	}
	if err := sbomtest.CycloneDX(s.CycloneDX); err != nil {
		t.Errorf("CycloneDX: %v", err)
	}

	var doc spdxDoc
	if err := json.Unmarshal(s.SPDX, &doc); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(doc.CreationInfo.Creators, "; "); got != "Tool: bakery-1.2.3; Organization: Example Corp" {
		t.Errorf("creators %q", got)
	}
	prefix := "https://sbom.example.com/golden/golden/sha256-" + strings.TrimPrefix(ref.DigestStr(), "sha256:") + "-"
	if !strings.HasPrefix(doc.Namespace, prefix) || len(doc.Namespace) != len(prefix)+36 {
		t.Errorf("namespace %q, want %s<uuid>", doc.Namespace, prefix)
	}
	again, err := sbom.Generate(context.Background(), ref, "linux/amd64", identity, nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc2 spdxDoc
	if err := json.Unmarshal(again.SPDX, &doc2); err != nil || doc2.Namespace == doc.Namespace {
		t.Errorf("two documents share the namespace %q (%v)", doc.Namespace, err)
	}

	for _, file := range doc.Files {
		algs := map[string]string{}
		for _, c := range file.Checksums {
			algs[c.Algorithm] = c.Value
		}
		if algs["SHA1"] == "" || algs["SHA256"] == "" {
			t.Errorf("file %s: checksums %v, want SHA1 and SHA256", file.Name, algs)
		}
	}
	var sums []string
	for _, p := range []string{"usr/bin/hello", "usr/share/doc/hello/copyright"} {
		h := sha1.Sum([]byte(debianFiles[p])) //nolint:gosec // SPDX's file checksum
		sums = append(sums, hex.EncodeToString(h[:]))
	}
	want := sbomtest.VerificationCode(sums)
	found := false
	for _, p := range doc.Packages {
		if p.Name == "hello" {
			found = true
			if p.Code == nil || p.Code.Value != want {
				t.Errorf("hello's verification code %+v, want %s (from its two files' bytes)", p.Code, want)
			}
		}
	}
	if !found {
		t.Errorf("no hello package in %s", s.SPDX)
	}

	var bom struct {
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Manufacturer struct {
				Name string `json:"name"`
			} `json:"manufacturer"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(s.CycloneDX, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != sbom.CycloneDXVersion.String() || bom.Metadata.Manufacturer.Name != "Example Corp" {
		t.Errorf("CycloneDX specVersion %q, manufacturer %q", bom.SpecVersion, bom.Metadata.Manufacturer.Name)
	}
}

// TestValidatorsRefuseBrokenSBOMs: each validator fails on the defects it
// exists for: a file without SHA1 (syft's library default), the empty-input
// verification code, a relationship to nothing, and a CycloneDX field the
// schema does not allow.
func TestValidatorsRefuseBrokenSBOMs(t *testing.T) {
	s, err := sbom.Generate(context.Background(), pushDebian(t, "golden"), "linux/amd64", identity, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha1.Sum(nil) //nolint:gosec // the code of no files
	cases := map[string]struct {
		edit func(doc map[string]any)
		want string
	}{
		"file without SHA1": {func(doc map[string]any) {
			file := doc["files"].([]any)[0].(map[string]any)
			var kept []any
			for _, c := range file["checksums"].([]any) {
				if c.(map[string]any)["algorithm"] != "SHA1" {
					kept = append(kept, c)
				}
			}
			file["checksums"] = kept
		}, "no SHA1 checksum"},
		"verification code of nothing": {func(doc map[string]any) {
			for _, p := range doc["packages"].([]any) {
				if code, ok := p.(map[string]any)["packageVerificationCode"].(map[string]any); ok {
					code["packageVerificationCodeValue"] = hex.EncodeToString(empty[:])
				}
			}
		}, "packageVerificationCode " + hex.EncodeToString(empty[:])},
		"dangling relationship": {func(doc map[string]any) {
			doc["relationships"] = append(doc["relationships"].([]any), map[string]any{
				"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-nothing"})
		}, "nothing used in relationship"},
		"namespace with a fragment": {func(doc map[string]any) {
			doc["documentNamespace"] = "https://sbom.example.com/x#y"
		}, "documentNamespace"},
		"no creators": {func(doc map[string]any) {
			doc["creationInfo"].(map[string]any)["creators"] = []any{}
		}, "no creators"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(s.SPDX, &doc); err != nil {
				t.Fatal(err)
			}
			c.edit(doc)
			broken, _ := json.Marshal(doc)
			if err := sbomtest.SPDX(broken); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("SPDX validator: %v, want an error with %q", err, c.want)
			}
		})
	}
	var bom map[string]any
	if err := json.Unmarshal(s.CycloneDX, &bom); err != nil {
		t.Fatal(err)
	}
	bom["bakeryExtra"] = true
	broken, _ := json.Marshal(bom)
	if err := sbomtest.CycloneDX(broken); err == nil || !strings.Contains(err.Error(), "additionalProperties") {
		t.Errorf("CycloneDX validator: %v, want additionalProperties", err)
	}
}
