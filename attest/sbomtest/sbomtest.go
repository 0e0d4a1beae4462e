// Package sbomtest checks SBOM documents with validators bakery did not
// write: SPDX 2.3 through github.com/spdx/tools-golang (its reader and
// spdxlib.ValidateDocument) plus the SPDX 2.3 rules that library leaves
// unchecked, and CycloneDX through the CycloneDX project's own validator
// (@cyclonedx/cyclonedx-library's JsonStrictValidator, run by node from
// .bakery/validators, which hack/setup.sh installs from npm).
//
// It is imported by tests only.
package sbomtest

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // SPDX 2.3 defines the verification code with SHA-1
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"
)

// SPDX validates an SPDX 2.3 JSON document and returns every problem found.
func SPDX(doc []byte) error {
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("tools-golang cannot read the document: %w", err)
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		return fmt.Errorf("tools-golang: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkDocument(d, bad)
	files := checkFiles(d, bad)
	checkPackages(d, files, bad)
	return errors.Join(errs...)
}

var (
	created   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	elementID = regexp.MustCompile(`^[a-zA-Z0-9.-]+$`)
	hexOf     = map[common.ChecksumAlgorithm]int{common.SHA1: 40, common.SHA256: 64, common.MD5: 32, common.SHA512: 128}
)

// checkDocument: SPDX 2.3 clause 6, the document creation information.
func checkDocument(d *spdx.Document, bad func(string, ...any)) {
	if d.SPDXVersion != "SPDX-2.3" {
		bad("spdxVersion %q, want SPDX-2.3", d.SPDXVersion)
	}
	if d.DataLicense != "CC0-1.0" {
		bad("dataLicense %q, want CC0-1.0 (6.2)", d.DataLicense)
	}
	if d.SPDXIdentifier != "DOCUMENT" {
		bad("SPDXID %q, want SPDXRef-DOCUMENT (6.3)", d.SPDXIdentifier)
	}
	if d.DocumentName == "" {
		bad("no document name (6.4)")
	}
	if u, err := url.Parse(d.DocumentNamespace); err != nil || !u.IsAbs() || strings.Contains(d.DocumentNamespace, "#") {
		bad("documentNamespace %q is not an absolute URI without '#' (6.5)", d.DocumentNamespace)
	}
	ci := d.CreationInfo
	if ci == nil {
		bad("no creationInfo (6.8, 6.9)")
		return
	}
	if len(ci.Creators) == 0 {
		bad("no creators (6.8)")
	}
	for _, c := range ci.Creators {
		if (c.CreatorType != "Tool" && c.CreatorType != "Organization" && c.CreatorType != "Person") || c.Creator == "" {
			bad("creator %q: %q is not Person, Organization or Tool with a name (6.8)", c.Creator, c.CreatorType)
		}
	}
	if !created.MatchString(ci.Created) {
		bad("created %q is not YYYY-MM-DDThh:mm:ssZ (6.9)", ci.Created)
	}
}

// checkFiles: SPDX 2.3 clause 8. Every file has a name, an id and a SHA-1
// (8.4: "the SHA1 algorithm must be used"). It returns each file's SHA-1.
func checkFiles(d *spdx.Document, bad func(string, ...any)) map[common.ElementID]string {
	sha1s := map[common.ElementID]string{}
	for _, f := range d.Files {
		if f.FileName == "" || !elementID.MatchString(string(f.FileSPDXIdentifier)) {
			bad("file %q (%s): a file needs a name and an SPDXRef id (8.1, 8.2)", f.FileName, f.FileSPDXIdentifier)
		}
		if _, dup := sha1s[f.FileSPDXIdentifier]; dup {
			bad("file id %s is used twice", f.FileSPDXIdentifier)
		}
		sha1s[f.FileSPDXIdentifier] = ""
		for _, c := range f.Checksums {
			if n, known := hexOf[c.Algorithm]; known && !isHex(c.Value, n) {
				bad("file %s: %s checksum %q is not %d hex digits", f.FileName, c.Algorithm, c.Value, n)
			}
			if c.Algorithm == common.SHA1 {
				sha1s[f.FileSPDXIdentifier] = c.Value
			}
		}
		if sha1s[f.FileSPDXIdentifier] == "" {
			bad("file %s has no SHA1 checksum, which SPDX 2.3 requires of every file (8.4)", f.FileName)
		}
	}
	return sha1s
}

// checkPackages: SPDX 2.3 clause 7. A package whose files were analyzed has
// a verification code, and the code is the one its files' SHA-1s give (7.9).
func checkPackages(d *spdx.Document, fileSHA1 map[common.ElementID]string, bad func(string, ...any)) {
	contains := map[common.ElementID][]common.ElementID{}
	for _, r := range d.Relationships {
		if r.Relationship == common.TypeRelationshipContains {
			contains[r.RefA.ElementRefID] = append(contains[r.RefA.ElementRefID], r.RefB.ElementRefID)
		}
	}
	seen := map[common.ElementID]bool{}
	for _, p := range d.Packages {
		id := p.PackageSPDXIdentifier
		if p.PackageName == "" || !elementID.MatchString(string(id)) || p.PackageDownloadLocation == "" {
			bad("package %q (%s): a package needs a name, an SPDXRef id and a downloadLocation (7.1, 7.2, 7.7)", p.PackageName, id)
		}
		if seen[id] {
			bad("package id %s is used twice", id)
		}
		seen[id] = true
		if !p.FilesAnalyzed {
			if p.PackageVerificationCode != nil || len(p.Files) > 0 {
				bad("package %s: filesAnalyzed is false, so it must have no verification code and no files (7.8)", p.PackageName)
			}
			continue
		}
		var sums []string
		for _, f := range contains[id] {
			if s, ok := fileSHA1[f]; ok {
				sums = append(sums, s)
			}
		}
		switch {
		case p.PackageVerificationCode == nil:
			bad("package %s: files were analyzed but there is no packageVerificationCode (7.9)", p.PackageName)
		case len(sums) == 0:
			bad("package %s: files were analyzed but it contains no files", p.PackageName)
		case p.PackageVerificationCode.Value != VerificationCode(sums):
			bad("package %s: packageVerificationCode %s, but its %d files' SHA1s give %s (7.9)",
				p.PackageName, p.PackageVerificationCode.Value, len(sums), VerificationCode(sums))
		}
	}
}

// VerificationCode is SPDX 2.3's package verification code (7.9.4): the
// SHA-1 of the files' lower-case hex SHA-1s, sorted and concatenated.
func VerificationCode(fileSHA1s []string) string {
	s := make([]string, len(fileSHA1s))
	for i, v := range fileSHA1s {
		s[i] = strings.ToLower(v)
	}
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, ""))) //nolint:gosec // as SPDX defines it
	return hex.EncodeToString(sum[:])
}

func isHex(s string, n int) bool {
	_, err := hex.DecodeString(s)
	return len(s) == n && err == nil
}

// CycloneDX validates a CycloneDX JSON document against the published JSON
// schema of its specVersion, with the CycloneDX project's validator.
func CycloneDX(doc []byte) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	modules := filepath.Join(root, ".bakery", "validators", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@cyclonedx", "cyclonedx-library")); err != nil {
		return fmt.Errorf("the CycloneDX validator is not installed in %s: run `make up` (hack/setup.sh installs it from npm)", modules)
	}
	f, err := os.CreateTemp("", "bakery-cyclonedx-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(doc); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cmd := exec.Command("node", filepath.Join(root, "hack", "validators", "cyclonedx.js"), f.Name())
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("the CycloneDX validator: %w: %s", err, out)
	}
	if !bytes.Contains(out, []byte(": valid (CycloneDX ")) {
		return fmt.Errorf("the CycloneDX validator said: %s", out)
	}
	return nil
}

// moduleRoot is the directory of bakery's go.mod, above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/bakeryhq/bakery\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sbomtest: not inside the bakery module")
		}
		dir = parent
	}
}
