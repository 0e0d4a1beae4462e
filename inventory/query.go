package inventory

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Query says which packages Find looks for. Every filter that is set must
// match; at least one must be set.
type Query struct {
	// Name is a package name, compared case-insensitively; Range (only with
	// Name) bounds its version, in the package type's own ordering.
	Name  string
	Range Range
	// License is an SPDX license id that must appear in the package's
	// concluded or declared license expression.
	License string
	// PURL is a package URL, or its beginning up to a version or qualifiers
	// ("pkg:deb/debian/openssl" matches every version of it).
	PURL string
	// CPE is a CPE 2.3 name; a part that is "*" or missing matches
	// anything.
	CPE string
	// History also searches every digest that holds a verified receipt for
	// an environment, not only the one its tag points at now.
	History bool
}

// ParseQuery reads PACKAGE[@VERSION | @RANGE] (the name may itself start
// with @, as npm scopes do). A malformed range is a failure.Config error
// naming the bad part.
func ParseQuery(arg string) (Query, error) {
	q := Query{Name: strings.TrimSpace(arg)}
	at := strings.LastIndexByte(q.Name, '@')
	if at <= 0 {
		return q, nil
	}
	q.Name, arg = q.Name[:at], q.Name[at+1:]
	r, err := ParseRange(arg)
	if err != nil {
		return q, failure.New(failure.Config, fmt.Sprintf("version range %q", arg), err,
			"use PACKAGE@1.2.3, PACKAGE@<5.6.1 or PACKAGE@>=5.6.0,<5.6.2; the operators are = < <= > >=")
	}
	q.Range = r
	return q, nil
}

// Validate checks that the query asks for something.
func (q Query) Validate() error {
	if q.Name == "" && q.License == "" && q.PURL == "" && q.CPE == "" {
		return failure.New(failure.Config, "usage", errors.New("nothing to find"), "name a PACKAGE, or give --license, --purl or --cpe")
	}
	if q.Name == "" && len(q.Range) > 0 {
		return failure.New(failure.Config, "usage", errors.New("a version range needs a package name"), "use PACKAGE@RANGE")
	}
	return nil
}

// Package is one package of an SBOM.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is the package URL's type (deb, rpm, apk, npm, golang, …), empty
	// when the SBOM gives no package URL.
	Type     string   `json:"type"`
	PURL     string   `json:"purl,omitempty"`
	CPEs     []string `json:"cpes,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
}

// Matches reports whether p passes every filter of q.
func (q Query) Matches(p Package) bool {
	if q.Name != "" && !strings.EqualFold(q.Name, p.Name) {
		return false
	}
	if len(q.Range) > 0 && (p.Version == "" || !q.Range.Allows(p.Type, p.Version)) {
		return false
	}
	if q.License != "" && !hasLicense(p.Licenses, q.License) {
		return false
	}
	if q.PURL != "" && !purlMatches(q.PURL, p.PURL) {
		return false
	}
	if q.CPE != "" && !anyCPEMatches(q.CPE, p.CPEs) {
		return false
	}
	return true
}

// hasLicense reports whether id is one of the license ids of the
// expressions ("MIT OR (GPL-2.0-only WITH Classpath-exception-2.0)").
func hasLicense(exprs []string, id string) bool {
	for _, e := range exprs {
		for _, tok := range strings.FieldsFunc(e, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
			if strings.EqualFold(tok, id) && !slices.Contains([]string{"AND", "OR", "WITH"}, strings.ToUpper(tok)) {
				return true
			}
		}
	}
	return false
}

// purlMatches reports whether the package URL got is want, or starts with
// want followed by a version, qualifiers or a subpath. Both are compared
// percent-decoded.
func purlMatches(want, got string) bool {
	if got == "" {
		return false
	}
	want, got = unescape(want), unescape(got)
	rest, ok := strings.CutPrefix(got, want)
	return ok && (rest == "" || strings.ContainsRune("@?#", rune(rest[0])))
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func anyCPEMatches(want string, cpes []string) bool {
	for _, c := range cpes {
		if cpeMatches(want, c) {
			return true
		}
	}
	return false
}

// cpeMatches compares two CPE 2.3 formatted strings part by part (a colon
// escaped with a backslash is part of its part); a part of want that is "*",
// empty or missing matches anything.
func cpeMatches(want, got string) bool {
	w, g := cpeParts(want), cpeParts(got)
	for i, part := range w {
		if part == "*" || part == "" {
			continue
		}
		if i >= len(g) || !strings.EqualFold(part, g[i]) {
			return false
		}
	}
	return true
}

// cpeParts splits a CPE 2.3 formatted string at its unescaped colons.
func cpeParts(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped character
		case ':':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
