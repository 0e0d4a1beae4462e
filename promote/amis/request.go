package amis

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/bakeryhq/bakery/internal/failure"
)

var (
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
	// amiName is the set of names EC2 accepts for an AMI.
	amiName = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)
)

// validate checks a request before anything is sent to AWS.
func (r Request) validate() error {
	subject := fmt.Sprintf("machine image %s for %s", r.Target, r.Environment)
	bad := func(err error, hint string) error { return failure.New(failure.Config, subject, err, hint) }
	if r.Target == "" || r.Environment == "" {
		return bad(errors.New("target and environment are required"), "")
	}
	if _, err := digest.Parse(r.Digest); err != nil {
		return bad(fmt.Errorf("digest %q: %w", r.Digest, err), "")
	}
	if len(r.Source) == 0 {
		return bad(errors.New("no source AMIs"), "the record's config lists no AMI per region")
	}
	for region, id := range r.Source {
		if region == "" || id == "" {
			return bad(fmt.Errorf("source %q: %q: region and AMI id must not be empty", region, id), "")
		}
	}
	for _, region := range r.Regions {
		if region == "" {
			return bad(errors.New("empty target region"), "")
		}
	}
	for _, a := range r.Accounts {
		if !accountID.MatchString(a) {
			return bad(fmt.Errorf("account %q is not an AWS account id", a), "account ids are 12 digits")
		}
	}
	for k := range r.Tags {
		if strings.HasPrefix(k, "bakery.") || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return bad(fmt.Errorf("tag %q is reserved", k), "bakery.* tags are bakery's own; aws: tags are AWS's")
		}
	}
	if name := r.name(); !amiName.MatchString(name) {
		return bad(fmt.Errorf("AMI name %q is not valid", name), "AMI names are 3 to 128 letters, digits and ()[] ./-'@_")
	}
	return nil
}

// regions returns the target regions, sorted and without duplicates.
func (r Request) regions() []string {
	regions := r.Regions
	if len(regions) == 0 {
		regions = slices.Collect(maps.Keys(r.Source))
	}
	regions = slices.Clone(regions)
	slices.Sort(regions)
	return slices.Compact(regions)
}

// source returns the region and AMI a copy into region is made from: the
// source in region itself when there is one, otherwise the source of the
// first region in sorted order.
func (r Request) source(region string) (string, string) {
	if id, ok := r.Source[region]; ok {
		return region, id
	}
	first := slices.Min(slices.Collect(maps.Keys(r.Source)))
	return first, r.Source[first]
}

// shortDigest is the first 12 hex digits of the digest.
func (r Request) shortDigest() string {
	return digest.Digest(r.Digest).Encoded()[:12]
}

// name is the copy's AMI name: <target>-<environment>-<12 hex digits>.
func (r Request) name() string {
	return fmt.Sprintf("%s-%s-%s", r.Target, r.Environment, r.shortDigest())
}

func (r Request) description() string {
	return fmt.Sprintf("bakery: %s %s promoted to %s", r.Target, r.Digest, r.Environment)
}

// clientToken is the CopyImage idempotency token for region: EC2 answers a
// CopyImage that repeats a token with the image the first one made.
func (r Request) clientToken(region string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{r.Digest, r.Target, r.Environment, region}, "\x00")))
	return hex.EncodeToString(sum[:]) // 64 characters, EC2's limit
}

// tags returns the tags every copy carries: req.Tags, then Name and the
// bakery.* tags (Name only if req.Tags does not set it).
func (r Request) tags() map[string]string {
	out := map[string]string{"Name": r.name()}
	maps.Copy(out, r.Tags)
	out[TagDigest] = r.Digest
	out[TagEnvironment] = r.Environment
	out[TagTarget] = r.Target
	return out
}

// accounts returns the accounts to share with, sorted and without
// duplicates.
func (r Request) accounts() []string {
	out := slices.Clone(r.Accounts)
	slices.Sort(out)
	return slices.Compact(out)
}
