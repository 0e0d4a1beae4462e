// Package schemacheck checks bakery's JSON output against the schemas it
// publishes (docs/json/COMMAND.schema.json, JSON Schema draft 2020-12) and
// its one spelling rule (camelCase keys). Only tests use it.
package schemacheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Dir is where the schemas are, relative to the repository root.
const Dir = "docs/json"

// Name is the schema name of a command path without "bakery": "build",
// "policy eval" → "policy-eval".
func Name(commandPath string) string {
	return strings.ReplaceAll(strings.TrimSpace(commandPath), " ", "-")
}

// Validate checks data, a command's JSON output, against
// docs/json/<name>.schema.json under root, and that every key bakery owns in
// it is camelCase.
func Validate(root, name string, data []byte) error {
	path := filepath.Join(root, Dir, name+".schema.json")
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	sch, err := c.Compile(path)
	if err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s output is not JSON: %w", name, err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("%s output does not match %s: %w", name, path, err)
	}
	if bad := NotCamel(doc); len(bad) > 0 {
		return fmt.Errorf("%s output has keys that are not camelCase: %s", name, strings.Join(bad, ", "))
	}
	return nil
}

var camel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// external are keys whose values are formats bakery does not own (SLSA
// provenance, policy input and receipts as Rego reads them) or maps keyed by
// data (regions, platforms, labels): their insides are not checked.
var external = []string{"provenance", "predicate", "amis", "nodes", "labels", "args", "buildArgs", "receipts", "input", "annotations", "byPlatform", "images", "resolvedDependencies", "internalParameters", "externalParameters"}

// NotCamel returns the paths of the keys in doc that are not camelCase,
// sorted, skipping the values of external keys.
func NotCamel(doc any) []string {
	var bad []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !camel.MatchString(k) {
					bad = append(bad, path+"."+k)
				}
				if !slices.Contains(external, k) {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", doc)
	sort.Strings(bad)
	return bad
}

// Names lists the schemas in root's docs/json.
func Names(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, Dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".schema.json"); ok {
			out = append(out, n)
		}
	}
	return out, nil
}
