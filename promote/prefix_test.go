package promote

import (
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

// TestParsePrefix: sha256: is optional, at least 12 and at most 64 hex
// digits, nothing but hex; everything else is exit 2.
func TestParsePrefix(t *testing.T) {
	full := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in, want string
		full     bool
		bad      string // part of the error, when refused
	}{
		{in: full, want: full, full: true},
		{in: strings.TrimPrefix(full, "sha256:"), want: full, full: true},
		{in: "sha256:abababababab", want: "sha256:abababababab"},
		{in: "ABABABABABAB", want: "sha256:abababababab"},
		{in: "sha256:ababababab", bad: "at least 12"},
		{in: "", bad: "at least 12"},
		{in: "sha256:abababababaz", bad: "other than hex"},
		{in: "app@sha256:abababababab", bad: "other than hex"},
		{in: full + "00", bad: "has 66 hex digits"},
	} {
		got, isFull, err := ParsePrefix(tc.in)
		if tc.bad != "" {
			if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParsePrefix(%q) = %q, %v; want a config error saying %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil || got != tc.want || isFull != tc.full {
			t.Errorf("ParsePrefix(%q) = %q, %v, %v; want %q, %v", tc.in, got, isFull, err, tc.want, tc.full)
		}
	}
}

// TestMatchPrefix: one match is the digest; two are ambiguous, listing
// both; none says where to look. Duplicates (one digest in several
// environments) are one candidate.
func TestMatchPrefix(t *testing.T) {
	a := "sha256:0123456789ab" + strings.Repeat("0", 52)
	b := "sha256:0123456789ab" + strings.Repeat("1", 52)
	c := "sha256:fedcba987654" + strings.Repeat("2", 52)
	digests := []string{a, b, c, c}
	if got, err := MatchPrefix("sha256:fedcba987654", digests, "app"); err != nil || got != c {
		t.Errorf("unique prefix: %q, %v; want %s", got, err, c)
	}
	if got, err := MatchPrefix("sha256:0123456789ab1", digests, "app"); err != nil || got != b {
		t.Errorf("longer prefix: %q, %v; want %s", got, err, b)
	}
	_, err := MatchPrefix("sha256:0123456789ab", digests, "app")
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) ||
		strings.Contains(err.Error(), c) {
		t.Errorf("ambiguous prefix: %v; want a config error listing %s and %s only", err, a, b)
	}
	_, err = MatchPrefix("sha256:aaaaaaaaaaaa", digests, "app")
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "no digest of app starts with aaaaaaaaaaaa") {
		t.Errorf("no match: %v", err)
	}
	if !strings.Contains(err.Error(), "see bakery history app") {
		t.Errorf("no match: %v, want a hint naming bakery history app", err)
	}
}

// TestResolvePrefix resolves against the in-process registries: a prefix of
// a digest promoted to staging, of one only built into dev, with and without
// sha256:, for the target and for any target; a full digest is used as is;
// a prefix of nothing, or too short, is exit 2.
func TestResolvePrefix(t *testing.T) {
	f := newFixture(t)
	promoted := f.buildAndPromote(t).DigestStr()
	built := f.buildIntoDev(t).DigestStr()
	keys := f.promoter.opts.Verifier
	for _, tc := range []struct{ target, env, prefix, want string }{
		{"app", "", promoted[:19], promoted},
		{"app", "", strings.TrimPrefix(promoted, "sha256:")[:12], promoted},
		{"", "", built[:30], built},
		{"app", "dev", built[:19], built},
		{"app", "staging", promoted[:19], promoted},
	} {
		got, err := ResolvePrefix(f.ctx, keys, f.cfg, tc.target, tc.env, tc.prefix)
		if err != nil || got != tc.want {
			t.Errorf("ResolvePrefix(%q, %q, %q) = %q, %v; want %s", tc.target, tc.env, tc.prefix, got, err, tc.want)
		}
	}
	// A full digest is not looked up: not even the registries are asked.
	f.dev.down.Store(true)
	f.prod.down.Store(true)
	none := "sha256:" + strings.Repeat("9", 64)
	if got, err := ResolvePrefix(f.ctx, keys, f.cfg, "app", "", none); err != nil || got != none {
		t.Errorf("full digest: %q, %v; want it as is", got, err)
	}
	if _, err := ResolvePrefix(f.ctx, keys, f.cfg, "app", "", promoted[:15]); failure.ClassOf(err) != failure.Config {
		t.Errorf("11 hex digits: %v, want a config error before any lookup", err)
	}
	f.dev.down.Store(false)
	f.prod.down.Store(false)
	miss := "sha256:999999999999"
	if strings.HasPrefix(promoted, miss) || strings.HasPrefix(built, miss) {
		t.Skip("a random digest starts with 999999999999")
	}
	_, err := ResolvePrefix(f.ctx, keys, f.cfg, "app", "", miss)
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "no digest of app starts with 999999999999") {
		t.Errorf("no match: %v", err)
	}
	if _, err := ResolvePrefix(f.ctx, keys, f.cfg, "nope", "", promoted[:19]); failure.ClassOf(err) != failure.Config {
		t.Errorf("unknown target: %v, want a config error", err)
	}
}
