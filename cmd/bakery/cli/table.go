package cli

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/env"
)

// Text output's one vocabulary, shared by every command that prints a table
// or a report to a person: yes and no for what holds or not, "-" for nothing
// there, capitals for what needs attention (coloured on a terminal).
const (
	textNone        = "-"
	textYes         = "yes"
	textNo          = "no"
	textRevoked     = "REVOKED"
	textDrift       = "DRIFT"
	textUnreachable = "UNREACHABLE"
	// shortHex is how many hex digits of a digest text output shows; -o
	// wide shows them all.
	shortHex = 12
)

// countsHelp says what bakery's counts count, for the commands that print
// them (build, promote, verify).
const countsHelp = `Counts: attestations are the SBOMs (SPDX and CycloneDX, one each per
platform) and the SLSA provenance; signatures, receipts and test results
(those that count: the newest per suite, platform and environment) are
counted apart.`

// style is how text output looks: -o wide prints full digests, RFC 3339
// times and every column; colour marks what needs attention, only on a
// terminal.
type style struct {
	wide  bool
	color bool
	now   time.Time
}

// style is the text style of ro's output to w.
func (ro *rootOptions) style(w io.Writer) style {
	noColor, _ := env.LookupEnv(env.NoColor)
	return style{wide: ro.output == "wide", color: useColor(isTerminal(w), noColor), now: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor is the colour decision: only on a terminal, and never when
// NO_COLOR holds anything (no-color.org: an empty value does not count).
func useColor(tty bool, noColor string) bool { return tty && noColor == "" }

// short is a digest cut to what a person reads and copies: the algorithm
// and 12 hex digits. Anything else is returned as it is.
func short(digest string) string {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= shortHex {
		return digest
	}
	return alg + ":" + hex[:shortHex]
}

// digest is d as the style shows it: short, or whole with -o wide; "-"
// when there is none.
func (s style) digest(d string) string {
	switch {
	case d == "":
		return textNone
	case s.wide:
		return d
	}
	return short(d)
}

var fullDigestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// digestsIn is text with every full digest in it as the style shows it.
func (s style) digestsIn(text string) string {
	if s.wide {
		return text
	}
	return fullDigestRE.ReplaceAllStringFunc(text, short)
}

// ref is a repository@digest reference with its digest as the style shows it.
func (s style) ref(ref string) string {
	repo, d, ok := strings.Cut(ref, "@")
	if !ok {
		return ref
	}
	return repo + "@" + s.digest(d)
}

// when is a recorded time as the style shows it: its age ("3h"), or RFC
// 3339 with -o wide; "-" when there is none, and as it is when it is not
// a time.
func (s style) when(t string) string {
	if t == "" {
		return textNone
	}
	at, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return t
	}
	if s.wide {
		return at.UTC().Format(time.RFC3339)
	}
	return age(s.now.Sub(at))
}

// ago is when with " ago" after an age, for sentences.
func (s style) ago(t string) string {
	out := s.when(t)
	if s.wide || out == textNone || out == t {
		return out
	}
	return out + " ago"
}

// age is a duration the way kubectl prints an AGE: the largest whole unit
// (seconds under two minutes, minutes under two hours, hours under two
// days, days under two years, then years).
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%dy", int64(d/(365*24*time.Hour)))
}

// yesNo is a boolean in the vocabulary.
func yesNo(b bool) string {
	if b {
		return textYes
	}
	return textNo
}

// alert paints a word that needs attention (REVOKED, DRIFT, a failure)
// red, when the style has colour.
func (s style) alert(text string) string {
	if !s.color || text == "" || text == textNone {
		return text
	}
	return "\x1b[31;1m" + text + "\x1b[0m"
}

// countAttestations counts what bakery calls attestations among predicate
// types: SBOMs and provenance, not receipts (see countsHelp).
func countAttestations(predicateTypes []string) int {
	n := 0
	for _, pt := range predicateTypes {
		switch pt {
		case attest.PredicateSPDX, attest.PredicateCycloneDX, attest.PredicateSLSAv1:
			n++
		}
	}
	return n
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// table is a kubectl-style table: columns two spaces apart, as wide as
// their widest visible cell (colour does not count), no trailing blanks.
type table struct {
	rows [][]string
}

// newTable starts a table with its header.
func newTable(header ...string) *table { return &table{rows: [][]string{header}} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func visibleWidth(s string) int { return utf8.RuneCountInString(ansi.ReplaceAllString(s, "")) }

// write prints the table.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], visibleWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
