package promote

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/promote/amis"
)

// Finding is one way an environment no longer runs what bakery put there,
// and the command that fixes it.
type Finding struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest,omitempty"`
	// What is unverified, no-receipt, tag-moved, revoked, ami-missing,
	// ami-state, ami-tags or ami-launch-permission.
	What   string `json:"what"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// NewInspector returns the AMI Inspector for an environment's aws settings.
type NewInspector func(ctx context.Context, aws *config.AWS) (amis.Inspector, error)

// DefaultInspector reads EC2 with the AWS SDK's default configuration.
func DefaultInspector(ctx context.Context, aws *config.AWS) (amis.Inspector, error) {
	return amis.New(ctx, amis.Options{Profile: aws.Profile})
}

// Drift turns statuses (CurrentStatus) into findings: every environment tag
// that points at a digest that does not verify, holds no receipt for the
// environment, is not where bakery last put it, or is revoked; and, with
// inspectors, every AMI a machine image's receipt names that is gone, disabled
// or deprecated without a revocation, or whose bakery tags, configured tags
// or launch permissions no longer match the environment. Nil inspectors
// check the registry side only.
func Drift(ctx context.Context, cfg *config.Config, statuses []Status, inspectors NewInspector) ([]Finding, error) {
	var out []Finding
	byProfile := map[string]amis.Inspector{}
	for _, s := range statuses {
		if s.Digest == "" {
			continue // nothing runs there: not drift
		}
		out = append(out, tagFindings(s)...)
		env, _, err := cfg.LookupEnvironment(s.Environment)
		if err != nil {
			return nil, err
		}
		if inspectors == nil || len(s.AMIs) == 0 {
			continue
		}
		aws := env.AWS
		if aws == nil {
			aws = &config.AWS{}
		}
		inspect, ok := byProfile[aws.Profile]
		if !ok {
			if inspect, err = inspectors(ctx, aws); err != nil {
				return nil, err
			}
			byProfile[aws.Profile] = inspect
		}
		found, err := amiFindings(ctx, cfg, env, s, inspect)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// tagFindings are the registry side of one status.
func tagFindings(s Status) []Finding {
	f := func(what, detail, fix string) Finding {
		return Finding{Target: s.Target, Environment: s.Environment, Digest: s.Digest, What: what, Detail: detail, Fix: fix}
	}
	back := fmt.Sprintf("bakery rollback %s --env %s", s.Target, s.Environment)
	rollback := back
	if s.Expected != "" && s.Expected != s.Digest {
		// where bakery last put the tag: what the bare rollback restores too
		rollback += " --digest " + s.Expected
	}
	var out []Finding
	switch {
	case !s.Verified:
		out = append(out, f("unverified", "the tag points at a digest that does not verify with the trusted keys",
			rollback+", or promote a verified digest"))
	case !s.Receipt:
		out = append(out, f("no-receipt", "the tag points at a digest that holds no receipt for "+s.Environment+": it was pushed or tagged outside bakery",
			rollback+fmt.Sprintf(", or promote it through the policies: bakery promote %s --to %s", s.Target, s.Environment)))
	case s.Drift:
		out = append(out, f("tag-moved", fmt.Sprintf("the tag was moved by hand to an older receipted digest; bakery last put %s there", s.Expected),
			rollback))
	}
	if s.Revoked != nil {
		fix := "promote a fix: bakery build && bakery promote " + s.Target + " --to " + s.Environment
		if s.RollbackTo != "" {
			fix = fmt.Sprintf("%s --digest %s", back, s.RollbackTo)
		}
		out = append(out, f("revoked", "the digest is revoked: "+s.Revoked.Reason, fix))
	}
	return out
}

// amiFindings compares each AMI of a machine-image status with what the
// environment says it should be.
func amiFindings(ctx context.Context, cfg *config.Config, env *config.Environment, s Status, inspect amis.Inspector) ([]Finding, error) {
	promoted := env.AWS != nil && env.Name != cfg.Environments[0].Name
	var out []Finding
	for _, region := range slices.Sorted(maps.Keys(s.AMIs)) {
		id := s.AMIs[region]
		img, err := inspect.Inspect(ctx, region, id)
		if err != nil {
			return nil, err
		}
		f := func(what, detail, fix string) {
			out = append(out, Finding{Target: s.Target, Environment: s.Environment, Digest: s.Digest,
				What: what, Detail: fmt.Sprintf("AMI %s in %s: %s", id, region, detail), Fix: fix})
		}
		aws := fmt.Sprintf("aws ec2 --region %s", region)
		switch {
		case !img.Found:
			f("ami-missing", "it is gone (deregistered outside bakery), so the environment cannot launch its digest",
				fmt.Sprintf("promote a new digest to %s (bakery build && bakery promote %s --to %s), or bakery rollback %s --env %s",
					s.Environment, s.Target, s.Environment, s.Target, s.Environment))
			continue
		case s.Revoked == nil && img.State == "disabled":
			f("ami-state", "it is disabled, but its digest is not revoked", fmt.Sprintf("%s enable-image --image-id %s", aws, id))
		case s.Revoked == nil && img.Deprecated:
			f("ami-state", "it is deprecated, but its digest is not revoked", fmt.Sprintf("%s disable-image-deprecation --image-id %s", aws, id))
		}
		if !promoted {
			continue
		}
		if bad := wrongTags(img, s, env); len(bad) > 0 {
			f("ami-tags", "its tags differ from the receipt: "+strings.Join(bad, ", "),
				fmt.Sprintf("%s create-tags --resources %s --tags %s", aws, id, strings.Join(tagArgs(s, env), " ")))
		}
		for _, acct := range env.AWS.Accounts {
			if !slices.Contains(img.LaunchAccounts, acct) {
				f("ami-launch-permission", "account "+acct+" of "+s.Environment+" has no launch permission",
					fmt.Sprintf("%s modify-image-attribute --image-id %s --launch-permission 'Add=[{UserId=%s}]'", aws, id, acct))
			}
		}
	}
	return out, nil
}

// wantTags are the tags a promoted copy carries: bakery's three and the
// environment's own.
func wantTags(s Status, env *config.Environment) map[string]string {
	want := map[string]string{amis.TagDigest: s.Digest, amis.TagEnvironment: s.Environment, amis.TagTarget: s.Target}
	for k, v := range env.AWS.Tags {
		want[k] = v
	}
	return want
}

func wrongTags(img amis.Image, s Status, env *config.Environment) []string {
	var bad []string
	want := wantTags(s, env)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got, ok := img.Tags[k]; !ok || got != want[k] {
			bad = append(bad, fmt.Sprintf("%s=%q (want %q)", k, got, want[k]))
		}
	}
	return bad
}

func tagArgs(s Status, env *config.Environment) []string {
	want := wantTags(s, env)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		out = append(out, fmt.Sprintf("Key=%s,Value=%s", k, want[k]))
	}
	return out
}
