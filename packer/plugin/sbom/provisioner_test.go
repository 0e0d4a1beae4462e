package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/attest/sbomtest"
)

const status = `Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2

`

// TestCatalog catalogs collected package databases as syft does a machine's
// root, and the recorded platform and run id survive the syft JSON round trip.
func TestCatalog(t *testing.T) {
	dir := t.TempDir()
	put := func(p, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("var/lib/dpkg/status", status)
	put("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	s, err := Catalog(context.Background(), dir, Descriptor{Platform: "linux/amd64", PackerRunUUID: "run-1"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range s.Artifacts.Packages.Enumerate() {
		names = append(names, p.Name+"="+p.Version)
	}
	if len(names) != 2 {
		t.Fatalf("packages %v, want base-files and bash (installed only)", names)
	}
	out := filepath.Join(t.TempDir(), "sbom.json")
	if err := write(out, s); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadDescriptor(doc); got != (Descriptor{Platform: "linux/amd64", PackerRunUUID: "run-1"}) {
		t.Errorf("descriptor %+v", got)
	}

	// What the attester makes of it passes the official validators.
	ref, err := name.NewDigest("registry.example/golden-ami@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sbom.Encode(doc, ref, "linux/amd64", sbom.Identity{Version: "1.2.3", Organization: "Example Corp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sbomtest.SPDX(enc.SPDX); err != nil {
		t.Errorf("SPDX: %v", err)
	}
	if err := sbomtest.CycloneDX(enc.CycloneDX); err != nil {
		t.Errorf("CycloneDX: %v", err)
	}
	if !bytes.Contains(enc.SPDX, []byte(`"Tool: bakery-1.2.3","Organization: Example Corp"`)) ||
		!bytes.Contains(enc.SPDX, []byte(`"documentNamespace":"`+sbom.DefaultNamespace+"/golden-ami/sha256-")) {
		t.Errorf("creators or namespace: %.600s", enc.SPDX)
	}
}

// TestUntarStaysInside: paths in the machine's tar cannot escape the directory.
func TestUntarStaysInside(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range []string{"../../escape", "/etc/abs", "var/lib/dpkg/status"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("x\n"))
	}
	_ = tw.Close()
	dir := t.TempDir()
	n, err := untar(&b, dir)
	if err != nil || n != 3 {
		t.Fatalf("untar: %d files, %v", n, err)
	}
	for _, p := range []string{"escape", "etc/abs", "var/lib/dpkg/status"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not inside the directory: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(dir)), "escape")); err == nil {
		t.Error("../../escape escaped")
	}
}

func TestGoarch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"} {
		if got := GoArch(in); got != want {
			t.Errorf("GoArch(%s) = %s", in, got)
		}
	}
}
