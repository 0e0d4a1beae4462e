// Package policies holds bakery's promotion policies, written in Rego in the
// conftest style (`deny contains msg if { ... }` in package bakery.<name>),
// and the Engine that evaluates them. The shipped policies are embedded in
// the binary; directories named in policy.dirs add more. `opa test policies/`
// runs their tests.
package policies

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/bakeryhq/bakery/internal/failure"
)

//go:embed *.rego
var shipped embed.FS

// Shipped lists the policies bakery ships, by name.
var Shipped = []string{"signed", "sbom", "provenance", "promoted_through", "license_denylist", "package_denylist", NotRevoked, "max_age", SBOMDeltaPolicy}

// SBOMDeltaPolicy is the shipped policy that reads input.sbom_delta: bakery
// computes the delta only for environments that list it.
const SBOMDeltaPolicy = "sbom_delta"

// Evaluator decides whether an input passes a set of policies.
type Evaluator interface {
	Evaluate(ctx context.Context, names []string, in Input) (Decision, error)
}

// Decision is the outcome of evaluating policies on one input.
type Decision struct {
	Allowed    bool        `json:"allowed"`
	Violations []Violation `json:"violations"`
	// Digest identifies the exact policy text (every module, sorted by file).
	Digest string `json:"policyDigest"`
}

// Violation is one denial: the policy and its message.
type Violation struct {
	Policy  string `json:"policy"`
	Message string `json:"message"`
}

// Engine evaluates compiled policies. Compile it once per run.
type Engine struct {
	// queries holds one prepared data.bakery.<name>.deny query per policy.
	queries map[string]rego.PreparedEvalQuery
	digest  string
}

var _ Evaluator = (*Engine)(nil)

// Compile parses and compiles the shipped policies plus every .rego file
// (tests excluded) under dirs, and prepares one query per policy package
// under data.bakery. A compile error names file:line and OPA's message.
func Compile(ctx context.Context, dirs []string) (*Engine, error) {
	modules, err := Modules(dirs)
	if err != nil {
		return nil, err
	}
	return CompileModules(ctx, modules)
}

// Modules reads the policy text Compile compiles: the shipped policies
// (named policies/<file>) and every .rego file under dirs (named by its
// path), tests excluded. The names are part of the Engine's digest.
func Modules(dirs []string) (map[string]string, error) {
	modules := map[string]string{}
	err := fs.WalkDir(shipped, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isPolicy(p) {
			return err
		}
		b, err := shipped.ReadFile(p)
		modules["policies/"+p] = string(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isPolicy(p) {
				return err
			}
			b, err := os.ReadFile(p)
			modules[p] = string(b)
			return err
		})
		if err != nil {
			return nil, failure.New(failure.Config, "policy.dirs "+dir, err, "fix policy.dirs")
		}
	}
	return modules, nil
}

// CompileModules compiles exactly modules (name to Rego text), as Compile
// does; the Engine's digest covers every name and text.
func CompileModules(ctx context.Context, modules map[string]string) (*Engine, error) {
	files := make([]string, 0, len(modules))
	for f := range modules {
		files = append(files, f)
	}
	sort.Strings(files)
	h := sha256.New()
	parsed := map[string]*ast.Module{}
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00", f, modules[f])
		m, err := ast.ParseModuleWithOpts(f, modules[f], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, compileError(err)
		}
		parsed[f] = m
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(parsed); compiler.Failed() {
		return nil, compileError(compiler.Errors)
	}
	e := &Engine{queries: map[string]rego.PreparedEvalQuery{}, digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}
	for _, m := range parsed {
		path := m.Package.Path.String() // data.bakery.signed
		name, ok := strings.CutPrefix(path, "data.bakery.")
		if !ok || strings.Contains(name, ".") {
			continue
		}
		if _, dup := e.queries[name]; dup {
			continue
		}
		q, err := rego.New(rego.Compiler(compiler), rego.Query(path+".deny")).PrepareForEval(ctx)
		if err != nil {
			return nil, compileError(err)
		}
		e.queries[name] = q
	}
	return e, nil
}

func isPolicy(p string) bool {
	return strings.HasSuffix(p, ".rego") && !strings.HasSuffix(p, "_test.rego")
}

// compileError turns OPA's errors (each with file:row) into one config error per line.
func compileError(err error) error {
	var astErrs ast.Errors
	if errors.As(err, &astErrs) {
		var errs []error
		for _, e := range astErrs {
			where := "policy"
			if e.Location != nil {
				where = fmt.Sprintf("%s:%d", e.Location.File, e.Location.Row)
			}
			errs = append(errs, failure.New(failure.Config, where, errors.New(e.Message), "fix the policy"))
		}
		return errors.Join(errs...)
	}
	return failure.New(failure.Config, "policy", err, "fix the policy")
}

// Names lists the compiled policies.
func (e *Engine) Names() []string {
	names := make([]string, 0, len(e.queries))
	for n := range e.queries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Digest identifies the compiled policy text.
func (e *Engine) Digest() string { return e.digest }

// Evaluate runs the named policies on in. A policy that is unknown, or whose
// deny set is undefined, counts as a denial; so does any message it returns.
func (e *Engine) Evaluate(ctx context.Context, names []string, in Input) (Decision, error) {
	d := Decision{Digest: e.digest, Violations: []Violation{}}
	doc, err := in.document()
	if err != nil {
		return d, err
	}
	for _, name := range names {
		q, ok := e.queries[name]
		if !ok {
			d.Violations = append(d.Violations, Violation{name, fmt.Sprintf("policy %q is not defined (known: %s)", name, strings.Join(e.Names(), ", "))})
			continue
		}
		rs, err := q.Eval(ctx, rego.EvalParsedInput(doc))
		if err != nil {
			return d, failure.New(failure.Policy, "policy "+name, err, "")
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			d.Violations = append(d.Violations, Violation{name, "the policy's result is undefined, which counts as a denial"})
			continue
		}
		msgs, ok := rs[0].Expressions[0].Value.([]any)
		if !ok {
			d.Violations = append(d.Violations, Violation{name, fmt.Sprintf("deny is %T, not a set of messages", rs[0].Expressions[0].Value)})
			continue
		}
		for _, m := range msgs {
			d.Violations = append(d.Violations, Violation{name, fmt.Sprint(m)})
		}
	}
	sort.SliceStable(d.Violations, func(i, j int) bool { return d.Violations[i].Policy < d.Violations[j].Policy })
	d.Allowed = len(d.Violations) == 0
	return d, nil
}
