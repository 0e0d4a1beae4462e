package inventory

import (
	"errors"
	"fmt"
	"strings"
)

// Compare orders two versions of a package of type typ (a purl type): -1 when
// a is older than b, 0 when they are the same version, +1 when a is newer.
// deb packages follow dpkg's ordering (CompareDebian); every other type
// follows semantic versioning when both versions are valid semver, and a
// dotted-numeric ordering otherwise (CompareSemver).
func Compare(typ, a, b string) int {
	if typ == "deb" {
		return CompareDebian(a, b)
	}
	return CompareSemver(a, b)
}

// CompareDebian orders two Debian versions exactly as dpkg --compare-versions
// does ([epoch:]upstream[-revision]: epochs numerically, then upstream and
// revision with dpkg's verrevcmp, where ~ sorts before everything, even the
// end of the string, letters before other characters, and digit runs compare
// as numbers). Versions dpkg would reject (a non-numeric epoch) are compared
// leniently, as if they had no epoch.
func CompareDebian(a, b string) int {
	ae, au, ar := splitDebian(a)
	be, bu, br := splitDebian(b)
	if c := compareNumeric(ae, be); c != 0 {
		return c
	}
	if c := verrevcmp(au, bu); c != 0 {
		return c
	}
	return verrevcmp(ar, br)
}

// splitDebian splits a version into epoch, upstream version and revision as
// dpkg's parseversion does: the epoch before the first colon, the revision
// after the last hyphen.
func splitDebian(v string) (epoch, upstream, revision string) {
	v = strings.TrimSpace(v)
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && isDigits(e) {
		epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// verrevcmp is dpkg's comparison of an upstream version or revision
// (lib/dpkg/version.c).
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// The non-digit prefix, character by character.
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := debOrder(a, i), debOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		// Then the digit run, as a number.
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// debOrder is dpkg's order() of the character at s[i]: the end of the string
// and digits 0, ~ below that, letters by their code, anything else after
// every letter.
func debOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isLetter(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

// CompareSemver orders two versions by semantic versioning 2.0.0 when both
// are valid semver (an optional leading "v"; pre-releases before the
// release; build metadata ignored). Otherwise it compares them as dotted
// numbers: field by field, the leading number of each field numerically and
// the rest of it as text, a missing field counting as 0 ("1.2" == "1.2.0",
// "1.10" > "1.9").
func CompareSemver(a, b string) int {
	sa, okA := parseSemver(a)
	sb, okB := parseSemver(b)
	if okA && okB {
		return sa.compare(sb)
	}
	return compareDotted(a, b)
}

type semver struct {
	major, minor, patch string
	pre                 []string
}

// parseSemver parses MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with an
// optional leading v.
func parseSemver(v string) (semver, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if core, _, ok := strings.Cut(v, "+"); ok {
		v = core
	}
	core, pre, hasPre := strings.Cut(v, "-")
	nums := strings.Split(core, ".")
	if len(nums) != 3 {
		return semver{}, false
	}
	for _, n := range nums {
		if !isDigits(n) || (len(n) > 1 && n[0] == '0') {
			return semver{}, false
		}
	}
	s := semver{major: nums[0], minor: nums[1], patch: nums[2]}
	if hasPre {
		s.pre = strings.Split(pre, ".")
		for _, id := range s.pre {
			if id == "" || strings.IndexFunc(id, func(r rune) bool { return !isAlnumHyphen(r) }) >= 0 {
				return semver{}, false
			}
		}
	}
	return s, true
}

func (s semver) compare(o semver) int {
	for _, c := range []int{compareNumeric(s.major, o.major), compareNumeric(s.minor, o.minor), compareNumeric(s.patch, o.patch)} {
		if c != 0 {
			return c
		}
	}
	switch {
	case len(s.pre) == 0 && len(o.pre) == 0:
		return 0
	case len(s.pre) == 0:
		return 1 // a release is newer than its pre-releases
	case len(o.pre) == 0:
		return -1
	}
	for i := 0; i < len(s.pre) && i < len(o.pre); i++ {
		if c := comparePrerelease(s.pre[i], o.pre[i]); c != 0 {
			return c
		}
	}
	return sign(len(s.pre) - len(o.pre))
}

// comparePrerelease orders two pre-release identifiers: numeric ones
// numerically and below alphanumeric ones, which compare as ASCII.
func comparePrerelease(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		return compareNumeric(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// compareDotted is the fallback ordering of versions that are not semver.
func compareDotted(a, b string) int {
	af := strings.Split(strings.TrimPrefix(strings.TrimSpace(a), "v"), ".")
	bf := strings.Split(strings.TrimPrefix(strings.TrimSpace(b), "v"), ".")
	for i := 0; i < len(af) || i < len(bf); i++ {
		x, y := "0", "0"
		if i < len(af) {
			x = af[i]
		}
		if i < len(bf) {
			y = bf[i]
		}
		xn, xs := leadingNumber(x)
		yn, ys := leadingNumber(y)
		if c := compareNumeric(xn, yn); c != 0 {
			return c
		}
		if c := strings.Compare(xs, ys); c != 0 {
			return c
		}
	}
	return 0
}

// leadingNumber splits a field into its leading digits ("0" when there are
// none) and the rest.
func leadingNumber(s string) (num, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return "0", s
	}
	return s[:i], s[i:]
}

// compareNumeric compares two strings of digits (either may be empty, as 0)
// as numbers of any size.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

// Op is a comparison in a version constraint.
type Op string

// The operators of a constraint.
const (
	OpEQ Op = "="
	OpLT Op = "<"
	OpLE Op = "<="
	OpGT Op = ">"
	OpGE Op = ">="
)

// Constraint is one comparison a version must pass.
type Constraint struct {
	Op      Op     `json:"op"`
	Version string `json:"version"`
}

// Range is a conjunction of constraints; the empty Range allows every
// version.
type Range []Constraint

// String renders the range as ParseRange reads it.
func (r Range) String() string {
	parts := make([]string, len(r))
	for i, c := range r {
		parts[i] = string(c.Op) + c.Version
	}
	return strings.Join(parts, ",")
}

// Allows reports whether version, of a package of type typ, passes every
// constraint, compared with Compare.
func (r Range) Allows(typ, version string) bool {
	for _, c := range r {
		d := Compare(typ, version, c.Version)
		var ok bool
		switch c.Op {
		case OpEQ:
			ok = d == 0
		case OpLT:
			ok = d < 0
		case OpLE:
			ok = d <= 0
		case OpGT:
			ok = d > 0
		case OpGE:
			ok = d >= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// ParseRange reads a version range: an exact version ("1.2.3", or "=1.2.3"),
// a comparison ("<5.6.1", "<=", ">=", ">"), or comma-joined comparisons that
// must all hold (">=5.6.0,<5.6.2"). The error names the part that is wrong.
func ParseRange(s string) (Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty version range")
	}
	var r Range
	for _, part := range strings.Split(s, ",") {
		c, err := parseConstraint(part)
		if err != nil {
			return nil, err
		}
		r = append(r, c)
	}
	return r, nil
}

func parseConstraint(part string) (Constraint, error) {
	p := strings.TrimSpace(part)
	if p == "" {
		return Constraint{}, errors.New("empty constraint between commas")
	}
	c := Constraint{Op: OpEQ}
	for _, op := range []Op{OpLE, OpGE, OpLT, OpGT, OpEQ} { // two-character operators first
		if rest, ok := strings.CutPrefix(p, string(op)); ok {
			c.Op, p = op, strings.TrimSpace(rest)
			break
		}
	}
	if p == "" {
		return Constraint{}, fmt.Errorf("%q has no version", strings.TrimSpace(part))
	}
	if !isAlnum(p[0]) {
		return Constraint{}, fmt.Errorf("%q: a version starts with a letter or digit", strings.TrimSpace(part))
	}
	for _, ch := range p {
		if !isAlnumHyphen(ch) && !strings.ContainsRune(".+~:_", ch) {
			return Constraint{}, fmt.Errorf("%q: %q cannot be in a version", strings.TrimSpace(part), ch)
		}
	}
	c.Version = p
	return c, nil
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }

func isAlnumHyphen(r rune) bool { return r < 0x80 && (isAlnum(byte(r)) || r == '-') }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
