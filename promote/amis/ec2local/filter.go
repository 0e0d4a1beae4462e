package ec2local

import (
	"net/url"
	"strconv"
	"strings"
)

// filter is one Filter.N of DescribeImages or DescribeSnapshots: a resource
// matches when the named field matches any of the values. Values may use the
// wildcards * and ?.
type filter struct {
	name   string
	values []string
}

// filterable is a resource that filters select: field returns the values a
// filter name selects from it, and whether the name is a supported filter.
type filterable interface {
	field(name string) ([]string, bool)
}

// filters parses the Filter.N.Name / Filter.N.Value.M parameters and rejects
// filter names that kind (any resource of the kind filtered) does not
// support, as EC2 does.
func filters(form url.Values, kind filterable) ([]filter, *apiError) {
	var out []filter
	for _, n := range indices(form, "Filter") {
		p := "Filter." + strconv.Itoa(n)
		f := filter{name: form.Get(p + ".Name"), values: list(form, p+".Value")}
		if f.name == "" {
			return nil, errMissing(p + ".Name")
		}
		if _, ok := kind.field(f.name); !ok {
			return nil, errorf("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		out = append(out, f)
	}
	return out, nil
}

// matches reports whether img passes every filter.
func (img *image) matches(fs []filter) bool {
	return matchesAll(img, fs)
}

// matchesAll reports whether r passes every filter.
func matchesAll(r filterable, fs []filter) bool {
	for _, f := range fs {
		got, _ := r.field(f.name)
		if !anyMatch(got, f.values) {
			return false
		}
	}
	return true
}

// field returns the values a filter name selects from img, and whether the
// name is a supported filter.
func (img *image) field(name string) ([]string, bool) {
	if got, ok := tagField(img.Tags, name); ok {
		return got, true
	}
	switch name {
	case "image-id":
		return []string{img.ID}, true
	case "name":
		return []string{img.Name}, true
	case "state":
		return []string{img.State}, true
	case "architecture":
		return []string{img.Architecture}, true
	case "description":
		return []string{img.Description}, true
	case "owner-id":
		return []string{img.OwnerID}, true
	case "is-public":
		return []string{strconv.FormatBool(img.Public)}, true
	}
	return nil, false
}

// tagField returns the values the tag filters (tag:KEY, tag-key, tag-value)
// select from tags, and whether name is one of them.
func tagField(tags map[string]string, name string) ([]string, bool) {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		if v, ok := tags[key]; ok {
			return []string{v}, true
		}
		return nil, true
	}
	if name != "tag-key" && name != "tag-value" {
		return nil, false
	}
	var out []string
	for k, v := range tags {
		if name == "tag-key" {
			out = append(out, k)
		} else {
			out = append(out, v)
		}
	}
	return out, true
}

func anyMatch(got, patterns []string) bool {
	for _, g := range got {
		for _, p := range patterns {
			if glob(p, g) {
				return true
			}
		}
	}
	return false
}

// glob reports whether s matches pattern, where * matches any run of
// characters and ? any one character, as in EC2 filter values.
func glob(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	// Classic two-pointer wildcard match with backtracking to the last *.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
