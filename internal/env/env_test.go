package env

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEveryConstantIsDescribed(t *testing.T) {
	for _, d := range All() {
		if d.Description == "" {
			t.Errorf("%s has no description", d.Name)
		}
	}
	if got := Config.Set("/x/bakery.yaml"); got != "BAKERY_CONFIG=/x/bakery.yaml" {
		t.Errorf("Set = %q", got)
	}
	t.Setenv(string(Target), "web")
	if Getenv(Target) != "web" {
		t.Errorf("Getenv(Target) = %q", Getenv(Target))
	}
}

func TestUnknownVariablePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Getenv of a variable outside the table did not panic")
		}
	}()
	Getenv(Variable("BAKERY_NOT_IN_THE_TABLE"))
}

// TestNoOtherPackageSpellsTheNames keeps the names in this one table: no Go
// file outside this package writes one of them as a string literal.
func TestNoOtherPackageSpellsTheNames(t *testing.T) {
	names := map[string]bool{}
	for _, d := range All() {
		names[string(d.Name)] = true
	}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || path == "." || filepath.Base(path) == "env") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && names[s] {
					t.Errorf("%s spells %s: use env.%s from internal/env", path, s, s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
