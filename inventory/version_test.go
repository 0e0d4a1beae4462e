package inventory

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

// debianCases are the hard cases of dpkg's ordering: want is the sign of
// CompareDebian(a, b).
var debianCases = []struct {
	a, b string
	want int
}{
	// Epochs outrank everything after them; no epoch is epoch 0.
	{"1:1.0", "2.0", 1},
	{"1:1.0", "1:2.0", -1},
	{"0:1.0", "1.0", 0},
	{"2:0.1", "1:9.9", 1},
	{"10:1.0", "9:1.0", 1},
	{"00:1.0", "1.0", 0},
	// A tilde sorts before everything, even the end of the version.
	{"1.0~rc1", "1.0", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0~~a", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0~rc1", "1.0~rc2", -1},
	{"1.0~beta", "1.0~rc1", -1},
	{"1.0~rc1-1", "1.0-1", -1},
	{"2.10-3~deb12u1", "2.10-3", -1},
	{"3.0.11-1~deb12u2", "3.0.11-1", -1},
	{"3.0.11-1~deb12u1", "3.0.11-1~deb12u2", -1},
	// Revisions: the last hyphen splits them off; no revision equals "0".
	{"1.0-1", "1.0-1.1", -1},
	{"1.0-1", "1.0-2", -1},
	{"1.0-10", "1.0-9", 1},
	{"1.0", "1.0-0", 0},
	{"1.0", "1.0-1", -1},
	{"1.0-1-1", "1.0-1", 1},
	{"1.0-a-1", "1.0-a", 1},
	{"1.0-0.1", "1.0", 1},
	// + sorts after letters and before nothing; binNMUs come after the source version.
	{"1.0+b1", "1.0", 1},
	{"1.0-1+b1", "1.0-1", 1},
	{"1.0-1+b1", "1.0-1.1", -1},
	{"1.0+dfsg-1", "1.0-1", 1},
	{"1.0+dfsg1-1", "1.0+dfsg-1", 1},
	{"12.4+deb12u5", "12.4+deb12u10", -1},
	// Letters sort before non-letters, by ASCII among themselves.
	{"1.0a", "1.0+", -1},
	{"1.0a", "1.0.", -1},
	{"1.0.", "1.0+", 1},
	{"1.0a", "1.0", 1},
	{"1.0A", "1.0a", -1},
	{"1.0Z", "1.0a", -1},
	{"1.0a", "1.0b", -1},
	{"1.0.a", "1.0a", 1},
	{"1.0~a", "1.0a", -1},
	// Digit runs compare as numbers: leading zeros do not count.
	{"1.01", "1.1", 0},
	{"1.001", "1.1", 0},
	{"1.010", "1.9", 1},
	{"1.0", "1.00", 0},
	{"1.002-1", "1.2-1", 0},
	{"1.10", "1.9", 1},
	{"1.0.0", "1.0", 1},
	{"1.0", "1", 1},
	{"99999999999999999999", "99999999999999999998", 1},
	{"1:99999999999999999999", "1:100000000000000000000", -1},
	// Dots and hyphens inside the upstream version.
	{"1.2.3-4-5", "1.2.3-4", 1},
	{"2.30-21+deb12u1", "2.30-21", 1},
	{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
}

func TestDebianOrderingTable(t *testing.T) {
	for _, tc := range debianCases {
		if got := CompareDebian(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareDebian(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareDebian(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareDebian(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// dpkgCompare asks the real dpkg for the order of a and b.
func dpkgCompare(a, b string) (int, error) {
	for _, rel := range []struct {
		op   string
		sign int
	}{{"lt", -1}, {"gt", 1}, {"eq", 0}} {
		err := exec.Command("dpkg", "--compare-versions", a, rel.op, b).Run()
		if err == nil {
			return rel.sign, nil
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			return 0, fmt.Errorf("dpkg --compare-versions %q %s %q: %w", a, rel.op, b, err)
		}
	}
	return 0, fmt.Errorf("dpkg says %q is neither lt, gt nor eq %q", a, b)
}

// agreeWithDpkg checks CompareDebian against dpkg on every pair, a few
// dpkg processes at a time.
func agreeWithDpkg(t *testing.T, pairs [][2]string) {
	t.Helper()
	work := make(chan [2]string)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for p := range work {
				want, err := dpkgCompare(p[0], p[1])
				if err != nil {
					t.Error(err)
					continue
				}
				if got := CompareDebian(p[0], p[1]); got != want {
					t.Errorf("CompareDebian(%q, %q) = %d, dpkg says %d", p[0], p[1], got, want)
				}
			}
		})
	}
	for _, p := range pairs {
		work <- p
	}
	close(work)
	wg.Wait()
}

func needDpkg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed: the comparison with the real dpkg needs it")
	}
}

// TestDebianOrderingAgreesWithDpkg: on every case of the table, both ways,
// and on every pair of versions the table holds, CompareDebian and the real
// dpkg --compare-versions agree (so the table itself is checked too).
func TestDebianOrderingAgreesWithDpkg(t *testing.T) {
	needDpkg(t)
	var pairs [][2]string
	seen := map[string]bool{}
	var all []string
	for _, tc := range debianCases {
		pairs = append(pairs, [2]string{tc.a, tc.b}, [2]string{tc.b, tc.a})
		for _, v := range []string{tc.a, tc.b} {
			if !seen[v] {
				seen[v] = true
				all = append(all, v)
			}
		}
	}
	if !testing.Short() {
		for i, a := range all {
			for _, b := range all[i+1:] {
				pairs = append(pairs, [2]string{a, b})
			}
		}
	}
	agreeWithDpkg(t, pairs)
}

// TestDebianOrderingAgreesWithDpkgOnRandomVersions compares random versions
// made of the characters dpkg's ordering treats specially (digits with
// leading zeros, ~, +, ., letters of both cases, epochs, revisions).
func TestDebianOrderingAgreesWithDpkgOnRandomVersions(t *testing.T) {
	needDpkg(t)
	r := rand.New(rand.NewPCG(11, 1))
	part := func(first string) string {
		const chars = "0012399.~~+aAzZ"
		var b strings.Builder
		b.WriteByte(first[r.IntN(len(first))])
		for n := r.IntN(6); n > 0; n-- {
			b.WriteByte(chars[r.IntN(len(chars))])
		}
		return b.String()
	}
	version := func() string {
		v := part("0123456789")
		if r.IntN(3) == 0 {
			v = []string{"0", "1", "2", "01"}[r.IntN(4)] + ":" + v
		}
		if r.IntN(2) == 0 {
			v += "-" + strings.ReplaceAll(part("0123456789abc"), "-", "")
		}
		return v
	}
	n := 300
	if testing.Short() {
		n = 30
	}
	pairs := make([][2]string, n)
	for i := range pairs {
		a, b := version(), version()
		if r.IntN(5) == 0 {
			b = a + []string{"~", "0", "+", "a", ".0"}[r.IntN(5)]
		}
		pairs[i] = [2]string{a, b}
	}
	agreeWithDpkg(t, pairs)
}

func TestSemverOrdering(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "10.0.0", -1},
		{"1.0.0-alpha", "1.0.0", -1},
		// The semver.org precedence example, in order.
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0+build.1", "1.0.0+build.2", 0},
		{"1.0.0-rc.1+build", "1.0.0", -1},
		// Not semver: dotted numbers.
		{"1.2", "1.2.0", 0},
		{"1.2", "1.10", -1},
		{"1.2.3.4", "1.2.3", 1},
		{"1.2a", "1.2b", -1},
		{"01.2.3", "1.2.3", 0},
		{"2024.01", "2023.12", 1},
	} {
		if got := CompareSemver(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareSemver(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareSemver(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareSemver(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// TestCompareFollowsThePackageType: the same two versions order differently
// for a deb package and for a semver one.
func TestCompareFollowsThePackageType(t *testing.T) {
	// dpkg: ~ is older than the release; semver falls back to dotted
	// numbers, where "0~rc1" and "0" differ by their text.
	if Compare("deb", "1.0.0~rc1", "1.0.0") != -1 {
		t.Error("deb: 1.0.0~rc1 is older than 1.0.0")
	}
	if Compare("npm", "1.0.0-rc1", "1.0.0") != -1 || Compare("npm", "1.0.0-2", "1.0.0-10") != -1 {
		t.Error("npm: semver pre-releases")
	}
	// dpkg: 1.0.0-10 is revision 10; semver: pre-release "10".
	if Compare("deb", "1.0.0-10", "1.0.0") != 1 || Compare("golang", "1.0.0-10", "1.0.0") != -1 {
		t.Error("a hyphen is a revision for deb, a pre-release for semver")
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"1.2.3", "=1.2.3"},
		{"=1.2.3", "=1.2.3"},
		{"<5.6.1", "<5.6.1"},
		{"<=5.6.1", "<=5.6.1"},
		{">=5.6.0,<5.6.2", ">=5.6.0,<5.6.2"},
		{"> 1.0 , <= 2.0", ">1.0,<=2.0"},
		{"<1:3.0.11-1~deb12u2", "<1:3.0.11-1~deb12u2"},
		{">=2.10-3+b1", ">=2.10-3+b1"},
		{"v1.2.3", "=v1.2.3"},
	} {
		r, err := ParseRange(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRange(%q) = %q, %v; want %q", tc.in, r, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, bad string }{
		{"", "empty version range"},
		{"<", `"<" has no version`},
		{">=5.6.0,<", `"<" has no version`},
		{">=5.6.0,", "empty constraint"},
		{",1.0", "empty constraint"},
		{">=5.6.0,,<5.7", "empty constraint"},
		{"=<1.0", `"=<1.0"`},
		{"<>1.0", `"<>1.0"`},
		{"!=1.0", `"!=1.0"`},
		{"~>1.0", `"~>1.0"`},
		{">=5.6.0<5.6.2", `'<' cannot be in a version`},
		{"1.0 2.0", `' ' cannot be in a version`},
		{"1.*", `'*' cannot be in a version`},
		{"=.1", `"=.1": a version starts with a letter or digit`},
	} {
		_, err := ParseRange(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("ParseRange(%q) = %v, want an error naming %s", tc.in, err, tc.bad)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery("openssl@>=3.0.0,<3.0.12")
	if err != nil || q.Name != "openssl" || q.Range.String() != ">=3.0.0,<3.0.12" {
		t.Errorf("got %+v, %v", q, err)
	}
	if q, err := ParseQuery("@angular/core@17.0.1"); err != nil || q.Name != "@angular/core" || q.Range.String() != "=17.0.1" {
		t.Errorf("npm scope: got %+v, %v", q, err)
	}
	if q, err := ParseQuery("@angular/core"); err != nil || q.Name != "@angular/core" || q.Range != nil {
		t.Errorf("npm scope without a version: got %+v, %v", q, err)
	}
	_, err = ParseQuery("openssl@>=3.0.0,<")
	if failure.ClassOf(err) != failure.Config || failure.ClassOf(err).ExitCode() != 2 {
		t.Errorf("a malformed range is %v (%v), want a config error (exit 2)", failure.ClassOf(err), err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, `version range ">=3.0.0,<": "<" has no version`) {
		t.Errorf("error %q: want one line naming the bad part", msg)
	}
	if err := (Query{}).Validate(); failure.ClassOf(err) != failure.Config {
		t.Errorf("an empty query: %v", err)
	}
}

func TestQueryMatches(t *testing.T) {
	openssl := Package{Name: "openssl", Version: "3.0.11-1~deb12u2", Type: "deb",
		PURL:     "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
		CPEs:     []string{`cpe:2.3:a:openssl:openssl:3.0.11-1\~deb12u2:*:*:*:*:*:*:*`},
		Licenses: []string{"Apache-2.0 AND (MIT OR BSD-3-Clause)"}}
	for _, tc := range []struct {
		q    Query
		want bool
	}{
		{Query{Name: "OpenSSL"}, true},
		{Query{Name: "openssl", Range: Range{{OpLT, "3.0.11-1"}}}, true}, // ~deb12u2 is before the release
		{Query{Name: "openssl", Range: Range{{OpGE, "3.0.11-1"}}}, false},
		{Query{Name: "openssl", Range: Range{{OpEQ, "0:3.0.11-1~deb12u2"}}}, true},
		{Query{License: "mit"}, true},
		{Query{License: "BSD-3-Clause"}, true},
		{Query{License: "GPL-2.0-only"}, false},
		{Query{License: "AND"}, false}, // an operator, not a license
		{Query{PURL: "pkg:deb/debian/openssl"}, true},
		{Query{PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2"}, true},
		{Query{PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u1"}, false},
		{Query{PURL: "pkg:deb/debian/openss"}, false},
		{Query{CPE: "cpe:2.3:a:openssl:openssl"}, true},
		{Query{CPE: `cpe:2.3:a:openssl:openssl:3.0.11-1\~deb12u2`}, true},
		{Query{CPE: "cpe:2.3:a:openssl:openssl:3.0.10"}, false},
		{Query{CPE: "cpe:2.3:a:*:openssl"}, true},
		{Query{CPE: "cpe:2.3:a:gnu:openssl"}, false},
		{Query{Name: "openssl", License: "GPL-2.0-only"}, false},
	} {
		if got := tc.q.Matches(openssl); got != tc.want {
			t.Errorf("%+v matches = %v, want %v", tc.q, got, tc.want)
		}
	}
}
