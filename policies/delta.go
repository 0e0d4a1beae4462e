package policies

import (
	"slices"
	"sort"
	"strings"
)

// Delta is how a candidate's SBOM differs from that of the digest the
// environment runs now (Against): packages added, removed and changed (by
// name and type), and licenses that no package the environment runs has.
type Delta struct {
	Against     string    `json:"against"`
	Added       []Package `json:"added"`
	Removed     []Package `json:"removed"`
	Changed     []Change  `json:"changed"`
	NewLicenses []string  `json:"new_licenses"`
}

// Change is a package whose versions differ.
type Change struct {
	Name string `json:"name"`
	Type string `json:"type"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Diff compares the packages of the digest an environment runs (from) with
// a candidate's (to).
func Diff(against string, from, to []Package) Delta {
	d := Delta{Against: against, Added: []Package{}, Removed: []Package{}, Changed: []Change{}, NewLicenses: []string{}}
	byKey := func(ps []Package) map[string][]Package {
		m := map[string][]Package{}
		for _, p := range ps {
			if p.Type == "oci" {
				continue // the image itself (the SPDX root package), not something in it
			}
			k := p.Type + "\x00" + p.Name
			m[k] = append(m[k], p)
		}
		return m
	}
	old, cur := byKey(from), byKey(to)
	for k, ps := range cur {
		before, ok := old[k]
		switch {
		case !ok:
			d.Added = append(d.Added, ps...)
		case versions(before) != versions(ps):
			d.Changed = append(d.Changed, Change{Name: ps[0].Name, Type: ps[0].Type, From: versions(before), To: versions(ps)})
		}
	}
	for k, ps := range old {
		if _, ok := cur[k]; !ok {
			d.Removed = append(d.Removed, ps...)
		}
	}
	had := map[string]bool{}
	for _, p := range from {
		for _, l := range p.Licenses {
			had[l] = true
		}
	}
	for _, p := range to {
		for _, l := range p.Licenses {
			if !had[l] && !slices.Contains(d.NewLicenses, l) {
				d.NewLicenses = append(d.NewLicenses, l)
			}
		}
	}
	byName := func(ps []Package) {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name+ps[i].Version < ps[j].Name+ps[j].Version })
	}
	byName(d.Added)
	byName(d.Removed)
	sort.Slice(d.Changed, func(i, j int) bool { return d.Changed[i].Name < d.Changed[j].Name })
	sort.Strings(d.NewLicenses)
	return d
}

// versions is a package's versions, sorted, once each.
func versions(ps []Package) string {
	v := make([]string, len(ps))
	for i, p := range ps {
		v[i] = p.Version
	}
	sort.Strings(v)
	return strings.Join(slices.Compact(v), ", ")
}
