package amis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// TestInspect reads a published copy through the SDK from the local EC2
// endpoint: bakery's tags and the launch permissions as published, then
// disabled and deprecated after Withdraw, and an AMI that is not there.
func TestInspect(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	src := srv.Seed("us-east-1", ec2local.Image{Name: "golden-dev"})
	p := publisher(t, amis.Options{})
	ctx := context.Background()
	res, err := p.Publish(ctx, amis.Request{Digest: testDigest, Environment: "prod", Target: "golden",
		Source: map[string]string{"us-east-1": src}, Accounts: []string{"222222222222", "111111111111"},
		Tags: map[string]string{"team": "platform"}})
	if err != nil {
		t.Fatal(err)
	}
	id := res.AMIs["us-east-1"]
	img, err := p.Inspect(ctx, "us-east-1", id)
	if err != nil {
		t.Fatal(err)
	}
	if !img.Found || img.State != "available" || img.Deprecated || img.Tags[amis.TagDigest] != testDigest ||
		img.Tags[amis.TagEnvironment] != "prod" || img.Tags["team"] != "platform" ||
		!slices.Equal(img.LaunchAccounts, []string{"111111111111", "222222222222"}) {
		t.Errorf("published copy: %+v", img)
	}
	if err := p.Withdraw(ctx, map[string]string{"us-east-1": id}, time.Now().Add(-time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if img, err = p.Inspect(ctx, "us-east-1", id); err != nil || !img.Found || img.State != ec2local.StateDisabled || !img.Deprecated {
		t.Errorf("withdrawn copy: %+v (%v), want found, disabled and deprecated", img, err)
	}
	if img, err = p.Inspect(ctx, "us-east-1", "ami-0123456789abcdef0"); err != nil || img.Found {
		t.Errorf("an AMI that is not there: %+v (%v), want not found", img, err)
	}
}
