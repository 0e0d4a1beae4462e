package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/promote"
)

// The plots are drawn by the templates as inline SVG from these shapes,
// so every label in them is escaped like any other text of the page.

// Timeline is one target's promotions: a row per environment, a point per
// verified receipt, placed by time.
type Timeline struct {
	Target string
	Width  int
	Height int
	Rows   []TimelineRow
	Points []TimelinePoint
	Ticks  []Tick
	// Axis is the x range the points are placed on.
	AxisX1, AxisX2 int
}

// TimelineRow is one environment's row.
type TimelineRow struct {
	Label string
	Y     int
}

// TimelinePoint is one receipt: an action (its CSS class), a short digest
// label, and the whole story in its title.
type TimelinePoint struct {
	X, Y         int
	Class, Label string
	Title        string
}

// Tick is a time on the axis.
type Tick struct {
	X     int
	Label string
}

const (
	plotWidth   = 760
	plotLeft    = 110
	plotRight   = 60
	timelineRow = 38
)

// timeline places every receipt of target's cells (in environment order)
// on one time axis; nil when there is none.
func timeline(target string, cells []Cell) *Timeline {
	var lo, hi time.Time
	type stamped struct {
		e   promote.Entry
		at  time.Time
		row int
	}
	var all []stamped
	tl := &Timeline{Target: target, Width: plotWidth, AxisX1: plotLeft, AxisX2: plotWidth - plotRight}
	for _, c := range cells {
		if c.Target != target {
			continue
		}
		row := len(tl.Rows)
		tl.Rows = append(tl.Rows, TimelineRow{Label: c.Environment, Y: 24 + row*timelineRow})
		for _, e := range c.History {
			at, err := time.Parse(time.RFC3339Nano, e.Time)
			if err != nil {
				continue
			}
			if lo.IsZero() || at.Before(lo) {
				lo = at
			}
			if at.After(hi) {
				hi = at
			}
			all = append(all, stamped{e, at, row})
		}
	}
	if len(all) == 0 {
		return nil
	}
	span := hi.Sub(lo)
	if span <= 0 { // one moment: centred on a minute's axis
		lo, span = lo.Add(-30*time.Second), time.Minute
	}
	x := func(at time.Time) int {
		return tl.AxisX1 + int(float64(tl.AxisX2-tl.AxisX1)*float64(at.Sub(lo))/float64(span))
	}
	for _, s := range all {
		tl.Points = append(tl.Points, TimelinePoint{X: x(s.at), Y: tl.Rows[s.row].Y, Class: s.e.Action,
			Label: shortHex(s.e.Digest, 7), Title: s.e.Action + " " + s.e.Digest + " into " + s.e.Environment + " at " + s.e.Time + " by key " + s.e.KeyID})
	}
	tl.Height = 24 + len(tl.Rows)*timelineRow + 12
	layout := "2006-01-02 15:04"
	if span < time.Hour {
		layout = "2006-01-02 15:04:05"
	}
	for i := range 3 {
		at := lo.Add(span * time.Duration(i) / 2)
		tl.Ticks = append(tl.Ticks, Tick{X: x(at), Label: at.UTC().Format(layout)})
	}
	return tl
}

// Bars is a horizontal bar chart.
type Bars struct {
	Title  string
	Width  int
	Height int
	Bars   []Bar
}

// Bar is one bar: its label, value, and where it is drawn.
type Bar struct {
	Label string
	Value int
	Y, W  int
	// ValueX is where the value is written, after the bar.
	ValueX int
}

const (
	barLabel = 220
	barRow   = 22
	barMax   = 440
	barLimit = 12
)

// bars draws counts (largest first, at most barLimit bars; the rest are
// added up as "other").
func bars(title string, counts []Count) *Bars {
	if len(counts) == 0 {
		return nil
	}
	counts = slices.Clone(counts)
	if len(counts) > barLimit {
		rest := counts[barLimit-1:]
		other := Count{Name: fmt.Sprintf("%d others", len(rest))}
		for _, c := range rest {
			other.N += c.N
		}
		counts = append(counts[:barLimit-1], other)
	}
	top := 1
	for _, c := range counts {
		top = max(top, c.N)
	}
	b := &Bars{Title: title, Width: plotWidth, Height: len(counts)*barRow + 8}
	for i, c := range counts {
		w := max(1, barMax*c.N/top)
		label := c.Name
		if len(label) > 32 {
			label = label[:31] + "…"
		}
		b.Bars = append(b.Bars, Bar{Label: label, Value: c.N, Y: 4 + i*barRow, W: w, ValueX: barLabel + w + 6})
	}
	return b
}

// imageLicenses counts the licenses of an image's distinct packages, over
// every platform.
func imageLicenses(plats []Platform) []Count {
	seen := map[string]bool{}
	var n []Count
	add := func(l string) {
		for i := range n {
			if n[i].Name == l {
				n[i].N++
				return
			}
		}
		n = append(n, Count{Name: l, N: 1})
	}
	for _, p := range plats {
		for _, pkg := range p.Packages {
			k := pkg.Type + "\x00" + pkg.Name + "\x00" + pkg.Version
			if seen[k] {
				continue
			}
			seen[k] = true
			for _, l := range licenseIDs(pkg.Licenses) {
				add(l)
			}
		}
	}
	slices.SortStableFunc(n, func(a, b Count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Name, b.Name)
	})
	return n
}

// platformCounts is the package count of each platform.
func platformCounts(plats []Platform) []Count {
	var out []Count
	for _, p := range plats {
		if !p.SBOM {
			continue // no verified SBOM: the platform table says so, in red
		}
		label := p.Platform
		if label == "" {
			label = shortHex(p.Digest, 12)
		}
		out = append(out, Count{Name: label, N: len(p.Packages)})
	}
	return out
}

// shortHex is a digest's first n hex digits.
func shortHex(digest string, n int) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > n {
		return hex[:n]
	}
	return hex
}
