package gitops

import (
	"bytes"
	"errors"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// terraformEditor pins a Terraform string: the attribute IMAGE of a
// .tfvars file (IMAGE = "repository@digest"), or the default of the
// variable "IMAGE" block of a .tf file. It edits with hclwrite, which
// keeps comments and formatting; only the value's tokens change.
type terraformEditor struct{}

func (terraformEditor) Edit(content []byte, image string, pin Pin) ([]byte, error) {
	f, diags := hclwrite.ParseConfig(content, "", hcl.InitialPos)
	if diags.HasErrors() {
		d := diags[0]
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		return nil, &ParseError{Line: line, Err: errors.New(d.Summary + ": " + d.Detail)}
	}
	body, attr := f.Body(), f.Body().GetAttribute(image)
	if attr == nil {
		if v := body.FirstMatchingBlock("variable", []string{image}); v != nil {
			body, attr = v.Body(), v.Body().GetAttribute("default")
			image = "default"
		}
	}
	if attr == nil {
		return nil, ErrImageNotFound
	}
	want := hclwrite.TokensForValue(cty.StringVal(pin.Ref())).Bytes()
	if bytes.Equal(bytes.TrimSpace(attr.Expr().BuildTokens(nil).Bytes()), bytes.TrimSpace(want)) {
		return content, nil
	}
	body.SetAttributeValue(image, cty.StringVal(pin.Ref()))
	return f.Bytes(), nil
}
