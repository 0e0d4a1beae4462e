package packer

import (
	"strings"
	"testing"
)

// Packer v1.12.0's diagnostics (hcl2template/types.variables.go) for the
// values bakery passes with -var from targets.NAME.variables.
const (
	validationRuleOutput = `Error: Invalid value for cmd variable

  on <value for var.region from arguments> line 1:
  (source code not available)

The region must be one of us-east-1, eu-west-1.

This was checked by the validation rule at golden-ami.pkr.hcl:4,3-13.

`
	typeOutput = `Error: Invalid argument value for -var variable

The received arg value for disk_size is not compatible with the variable's
type constraint: a number is required.

`
	undeclaredOutput = `Error: Undefined -var variable

A "regoin" variable was passed in the command line but was not found in known
variables. To declare variable "regoin", place this block in one of your .pkr
files, such as variables.pkr.hcl

`
)

// TestVariableErrorNamesTheVariable: a bad value from bakery.yaml's
// variables is blamed on targets.NAME.variables.VAR, not the template.
func TestVariableErrorNamesTheVariable(t *testing.T) {
	for out, want := range map[string][]string{
		validationRuleOutput: {"region", "The region must be one of us-east-1, eu-west-1.", "golden-ami.pkr.hcl:4,3-13"},
		typeOutput:           {"disk_size", "a number is required"},
		undeclaredOutput:     {"regoin", "not declared"},
	} {
		name, msg, ok := variableError([]byte(out))
		if !ok {
			t.Errorf("not a variable error:\n%s", out)
			continue
		}
		if name != want[0] {
			t.Errorf("variable = %q, want %q", name, want[0])
		}
		for _, w := range want[1:] {
			if !strings.Contains(msg, w) || strings.Contains(msg, "\n") {
				t.Errorf("message %q lacks %q or is not one line", msg, w)
			}
		}
		if strings.Contains(msg, "Error:") || strings.Contains(msg, "source code not available") {
			t.Errorf("message %q carries packer's framing", msg)
		}
	}
	for _, out := range []string{validateOutput, buildOutput, provisionerOutput} {
		if _, _, ok := variableError([]byte(out)); ok {
			t.Errorf("a variable error:\n%s", out)
		}
	}
	err := templateFailure("golden-ami", "golden-ami.pkr.hcl", []byte(validationRuleOutput))
	for _, w := range []string{`target "golden-ami"`, `variable "region"`, "fix targets.golden-ami.variables.region in bakery.yaml"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "template") {
		t.Errorf("a variable's value blamed on the template: %q", err)
	}
	if err := templateFailure("golden-ami", "golden-ami.pkr.hcl", []byte(validateOutput)); !strings.Contains(err.Error(), "template golden-ami.pkr.hcl does not validate") {
		t.Errorf("template error: %q", err)
	}
}
