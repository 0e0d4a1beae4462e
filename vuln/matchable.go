package vuln

import (
	"bytes"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// matchable is an SPDX JSON document less what grype's matching never
// reads: its files, and the relationships that name anything but a
// package or the document (a package CONTAINS a file, a file is evidence
// of a package). Packages, their external references (purls, CPEs), the
// operating system, and the relationships between packages (DESCRIBES,
// DEPENDENCY_OF, ownership by file overlap) stay as they are, byte for
// byte. Anything that is not an SPDX JSON document, or not one this can
// read, is returned as it is, for grype to read or refuse.
//
// It reads the document in one pass (jsontext, in place) and copies only
// what it keeps. TestMatchableFindsWhatTheWholeDocumentFinds holds it to
// the findings and package count of the whole document.
func matchable(doc []byte) []byte {
	d := jsontext.NewDecoder(bytes.NewBuffer(doc))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return doc
	}
	out := make([]byte, 0, len(doc)/4)
	out = append(out, '{')
	var self string
	var rels jsontext.Value
	keep := map[string]bool{}
	spdx := false
	for d.PeekKind() == '"' {
		t, err := d.ReadToken()
		if err != nil {
			return doc
		}
		name := t.String()
		v, err := d.ReadValue()
		if err != nil {
			return doc
		}
		switch name {
		case "files":
			continue
		case "relationships":
			rels = v.Clone() // filtered once every package is known
			continue
		case "spdxVersion":
			spdx = true
		case "SPDXID":
			if self, err = stringOf(v); err != nil {
				return doc
			}
		case "packages":
			if !packageIDs(v, keep) {
				return doc
			}
		}
		out = appendMember(out, name, v)
	}
	if t, err := d.ReadToken(); err != nil || t.Kind() != '}' || !spdx {
		return doc
	}
	if rels != nil {
		keep[self] = true
		kept, ok := packageRelationships(rels, keep)
		if !ok {
			return doc
		}
		out = appendMember(out, "relationships", kept)
	}
	return append(out, '}')
}

// appendMember appends "name":v to a JSON object being written.
func appendMember(out []byte, name string, v jsontext.Value) []byte {
	if len(out) > 1 {
		out = append(out, ',')
	}
	out, _ = jsontext.AppendQuote(out, name)
	out = append(out, ':')
	return append(out, v...)
}

// packageIDs adds the SPDXID of every package in v to ids; false when v is
// not an array of objects, or a package names files (hasFiles): that
// document is left whole rather than half.
func packageIDs(v jsontext.Value, ids map[string]bool) bool {
	return eachObject(v, func(name string, v jsontext.Value) bool {
		switch name {
		case "SPDXID":
			id, err := stringOf(v)
			ids[id] = true
			return err == nil
		case "hasFiles":
			return false
		}
		return true
	})
}

// packageRelationships is the array rels less every relationship that
// names an element outside keep (NOASSERTION and NONE are no element),
// except GENERATED_FROM: syft skips the package a package or file was
// generated from, whatever the other end is.
func packageRelationships(rels jsontext.Value, keep map[string]bool) (jsontext.Value, bool) {
	d := jsontext.NewDecoder(bytes.NewBuffer(rels))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '[' {
		return nil, false
	}
	out := jsontext.Value{'['}
	for d.PeekKind() == '{' {
		r, err := d.ReadValue()
		if err != nil {
			return nil, false
		}
		ends, generated := true, false
		if !eachObject(r, func(name string, v jsontext.Value) bool {
			if name != "spdxElementId" && name != "relatedSpdxElement" && name != "relationshipType" {
				return true
			}
			s, err := stringOf(v)
			if name == "relationshipType" {
				generated = s == "GENERATED_FROM"
			} else {
				ends = ends && (keep[s] || s == "NONE" || strings.HasPrefix(s, "NOASSERTION"))
			}
			return err == nil
		}) {
			return nil, false
		}
		if ends || generated {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, r...)
		}
	}
	if t, err := d.ReadToken(); err != nil || t.Kind() != ']' {
		return nil, false
	}
	return append(out, ']'), true
}

// eachObject calls f with each member of each object of the array v (or of
// the object v itself); false when v is neither, or f says stop.
func eachObject(v jsontext.Value, f func(name string, v jsontext.Value) bool) bool {
	d := jsontext.NewDecoder(bytes.NewBuffer(v))
	members := func() bool {
		for d.PeekKind() == '"' {
			t, err := d.ReadToken()
			if err != nil {
				return false
			}
			name := t.String()
			mv, err := d.ReadValue()
			if err != nil || !f(name, mv) {
				return false
			}
		}
		t, err := d.ReadToken()
		return err == nil && t.Kind() == '}'
	}
	t, err := d.ReadToken()
	switch {
	case err != nil:
		return false
	case t.Kind() == '{':
		return members()
	case t.Kind() != '[':
		return false
	}
	for d.PeekKind() == '{' {
		if _, err := d.ReadToken(); err != nil || !members() {
			return false
		}
	}
	t, err = d.ReadToken()
	return err == nil && t.Kind() == ']'
}

// stringOf is the string a JSON value holds.
func stringOf(v jsontext.Value) (string, error) {
	var s []byte
	s, err := jsontext.AppendUnquote(s, v)
	return string(s), err
}
