package layout

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/bakeryhq/bakery"

// outside are the trees that are not part of the house.
var outside = []string{"hack", "e2e", "examples", "docs"}

// TestImportsPointDown fails on any import from a lower floor to a higher
// one, on a package that is on no floor, and on a production package that
// imports a test-only one. It reads the non-test imports of every package
// under the module root with go/build, so build tags apply as in go build.
func TestImportsPointDown(t *testing.T) {
	pkgs := packages(t)
	if len(pkgs) < 20 {
		t.Fatalf("found only %d packages: is the walk rooted at the module?", len(pkgs))
	}
	for _, v := range violations(pkgs, Floors, TestOnly) {
		t.Error(v)
	}
}

// TestViolationsCatchesEachKind checks the check itself on a made-up house.
func TestViolationsCatchesEachKind(t *testing.T) {
	floors := [][]string{{"cmd"}, {"promote"}, {"builders", "attest"}, {"internal/failure"}}
	pkgs := map[string][]string{
		"cmd":              {"promote", "builders"},          // down: fine
		"attest":           {"builders", "internal/failure"}, // same floor and down: fine
		"builders":         {"promote"},                      // up
		"promote":          {"fake"},                         // test-only
		"newpkg":           nil,                              // on no floor
		"internal/failure": nil,
	}
	got := strings.Join(violations(pkgs, floors, []string{"fake"}), "\n")
	for _, want := range []string{"builders imports promote, a floor above it", "promote imports fake", "newpkg is on no floor"} {
		if !strings.Contains(got, want) {
			t.Errorf("violations do not report %q:\n%s", want, got)
		}
	}
	if n := len(strings.Split(got, "\n")); n != 3 {
		t.Errorf("%d violations, want 3:\n%s", n, got)
	}
}

// violations lists every broken rule in pkgs (package -> its imports).
func violations(pkgs map[string][]string, floors [][]string, testOnly []string) []string {
	floor := func(pkg string) (int, bool) {
		for i, f := range floors {
			if slices.Contains(f, pkg) {
				return i, true
			}
		}
		return 0, false
	}
	var out []string
	for pkg, imports := range pkgs {
		if slices.Contains(testOnly, pkg) {
			continue
		}
		fi, ok := floor(pkg)
		if !ok {
			out = append(out, pkg+" is on no floor: add it to layout.Floors")
			continue
		}
		for _, imp := range imports {
			if slices.Contains(testOnly, imp) {
				out = append(out, pkg+" imports "+imp+", which only tests, e2e and hack may import")
				continue
			}
			if ii, ok := floor(imp); ok && ii < fi {
				out = append(out, pkg+" imports "+imp+", a floor above it: move the shared piece down instead")
			}
		}
	}
	sort.Strings(out)
	return out
}

// packages maps each package under the module root (outside hack/, e2e/...)
// to its imports within the module, both relative to the module root.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") && rel != "." || slices.Contains(outside, strings.Split(rel, "/")[0]) || d.Name() == "testdata" {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no buildable Go files here
		}
		var imports []string
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				imports = append(imports, rest)
			}
		}
		out[rel] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
