package ec2local

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The EC2 Query protocol flattens lists into numbered parameters, starting
// at 1: ImageId.1, ImageId.2, Filter.1.Name, Filter.1.Value.1, Tag.1.Key.

// indices returns, in ascending order, the distinct N of the parameters
// named prefix.N or prefix.N.rest.
func indices(form url.Values, prefix string) []int {
	var out []int
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// list returns the values of prefix.1, prefix.2, ... in index order.
func list(form url.Values, prefix string) []string {
	var out []string
	for _, n := range indices(form, prefix) {
		if v, ok := form[prefix+"."+strconv.Itoa(n)]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// tag is a key and value pair.
type tag struct{ Key, Value string }

// tags returns the tags prefix.N.Key / prefix.N.Value in index order.
func tags(form url.Values, prefix string) []tag {
	var out []tag
	for _, n := range indices(form, prefix) {
		p := prefix + "." + strconv.Itoa(n)
		out = append(out, tag{Key: form.Get(p + ".Key"), Value: form.Get(p + ".Value")})
	}
	return out
}

// checkTags returns an error for a tag EC2 would refuse.
func checkTags(ts []tag) *apiError {
	for _, t := range ts {
		switch {
		case t.Key == "":
			return errorf("InvalidParameterValue", "Tag keys must not be empty")
		case len(t.Key) > 128 || len(t.Value) > 256:
			return errorf("InvalidParameterValue", "Tag %q is too long", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errorf("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return nil
}

// imageTags returns the tags of the TagSpecification.N parameters whose
// ResourceType is image. Specifications for snapshots are accepted and
// ignored: the server does not tag snapshots.
func imageTags(form url.Values) ([]tag, *apiError) {
	var out []tag
	for _, n := range indices(form, "TagSpecification") {
		p := "TagSpecification." + strconv.Itoa(n)
		switch rt := form.Get(p + ".ResourceType"); rt {
		case "image":
			out = append(out, tags(form, p+".Tag")...)
		case "snapshot":
		default:
			return nil, errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
	}
	return out, checkTags(out)
}
