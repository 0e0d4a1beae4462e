package promote

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/revoke"
)

// images is an Inspector over fixed answers; an id it does not hold is gone.
type images map[string]amis.Image

func (im images) Inspect(_ context.Context, region, id string) (amis.Image, error) {
	img, ok := im[id]
	if !ok {
		return amis.Image{Region: region, ID: id}, nil
	}
	img.Region, img.ID, img.Found = region, id, true
	return img, nil
}

// TestDrift: each way an environment can differ from what bakery recorded
// is one finding whose fix names the command, and a healthy environment,
// an empty one and a withdrawn AMI of a revoked digest are not findings.
func TestDrift(t *testing.T) {
	const d1, d2 = "sha256:1111111111111111111111111111111111111111111111111111111111111111", "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	cfg := &config.Config{Environments: []config.Environment{
		{Name: "dev"},
		{Name: "prod", AWS: &config.AWS{Accounts: []string{"444455556666"}, Tags: map[string]string{"team": "platform"}}},
	}}
	good := map[string]string{amis.TagDigest: d1, amis.TagEnvironment: "prod", amis.TagTarget: "ami", "team": "platform"}
	inspect := images{
		"ami-good":      {State: "available", Tags: good, LaunchAccounts: []string{"444455556666"}},
		"ami-retagged":  {State: "available", Tags: map[string]string{amis.TagDigest: d2, amis.TagEnvironment: "prod", amis.TagTarget: "ami"}},
		"ami-disabled":  {State: "disabled"},
		"ami-withdrawn": {State: "disabled", Deprecated: true},
	}
	ok := Status{Verified: true, Receipt: true, Digest: d1}
	with := func(s Status, target, env string) Status { s.Target, s.Environment = target, env; return s }
	statuses := []Status{
		with(Status{}, "never-built", "prod"),
		with(Status{Digest: d1}, "forged", "dev"),
		with(Status{Digest: d1, Verified: true}, "pushed", "prod"),
		with(Status{Digest: d2, Verified: true, Receipt: true, Drift: true, Expected: d1}, "moved", "prod"),
		with(Status{Digest: d2, Verified: true, Receipt: true, Revoked: &revoke.Entry{Reason: "CVE-2026-1"}, RollbackTo: d1}, "revoked", "prod"),
		with(Status{Digest: d1, Verified: true, Receipt: true, AMIs: map[string]string{"us-east-1": "ami-good", "eu-west-1": "ami-retagged", "ap-south-1": "ami-gone"}}, "ami", "prod"),
		with(Status{Digest: d1, Verified: true, Receipt: true, AMIs: map[string]string{"us-east-1": "ami-disabled"}}, "ami", "dev"),
		with(Status{Digest: d2, Verified: true, Receipt: true, Revoked: &revoke.Entry{Reason: "bad"}, AMIs: map[string]string{"us-east-1": "ami-withdrawn"}}, "ami-revoked", "dev"),
		with(ok, "healthy", "prod"),
	}
	got, err := Drift(context.Background(), cfg, statuses, func(context.Context, *config.AWS) (amis.Inspector, error) { return inspect, nil })
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, f := range got {
		rows = append(rows, f.Target+"/"+f.Environment+" "+f.What+" | "+f.Detail+" | "+f.Fix)
	}
	sort.Strings(rows)
	want := []string{
		"ami-revoked/dev revoked | the digest is revoked: bad | promote a fix: bakery build && bakery promote ami-revoked --to dev",
		"ami/dev ami-state | AMI ami-disabled in us-east-1: it is disabled, but its digest is not revoked | aws ec2 --region us-east-1 enable-image --image-id ami-disabled",
		"ami/prod ami-launch-permission | AMI ami-retagged in eu-west-1: account 444455556666 of prod has no launch permission | aws ec2 --region eu-west-1 modify-image-attribute --image-id ami-retagged --launch-permission 'Add=[{UserId=444455556666}]'",
		"ami/prod ami-missing | AMI ami-gone in ap-south-1: it is gone (deregistered outside bakery), so the environment cannot launch its digest | promote a new digest to prod (bakery build && bakery promote ami --to prod), or bakery rollback ami --env prod",
		`ami/prod ami-tags | AMI ami-retagged in eu-west-1: its tags differ from the receipt: bakery.digest="` + d2 + `" (want "` + d1 + `"), team="" (want "platform") | aws ec2 --region eu-west-1 create-tags --resources ami-retagged --tags Key=bakery.digest,Value=` + d1 + ` Key=bakery.environment,Value=prod Key=bakery.target,Value=ami Key=team,Value=platform`,
		"forged/dev unverified | the tag points at a digest that does not verify with the trusted keys | bakery rollback forged --env dev, or promote a verified digest",
		"moved/prod tag-moved | the tag was moved by hand to an older receipted digest; bakery last put " + d1 + " there | bakery rollback moved --env prod --digest " + d1,
		"pushed/prod no-receipt | the tag points at a digest that holds no receipt for prod: it was pushed or tagged outside bakery | bakery rollback pushed --env prod, or promote it through the policies: bakery promote pushed --to prod",
		"revoked/prod revoked | the digest is revoked: CVE-2026-1 | bakery rollback revoked --env prod --digest " + d1,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\n\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	registryOnly, err := Drift(context.Background(), cfg, statuses, nil)
	if err != nil || len(registryOnly) != 5 {
		t.Errorf("registry only: %d findings (%v), want the 5 tag findings", len(registryOnly), err)
	}
}
