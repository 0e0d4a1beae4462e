package ec2local_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// asClient returns a real SDK Auto Scaling client for region that talks to hs.
func asClient(hs *httptest.Server, region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  static(testKey),
		BaseEndpoint: aws.String(hs.URL),
		HTTPClient:   hs.Client(),
	})
}

// fleet makes a launch template on image and a group of two instances on it.
func fleet(t *testing.T, c *ec2.Client, as *autoscaling.Client, image string) string {
	t.Helper()
	ctx := context.Background()
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("golden-prod"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(image), InstanceType: types.InstanceTypeT3Micro}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	if !strings.HasPrefix(id, "lt-") || aws.ToInt64(lt.LaunchTemplate.DefaultVersionNumber) != 1 {
		t.Fatalf("CreateLaunchTemplate answered %+v", lt.LaunchTemplate)
	}
	if _, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("web-prod"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("golden-prod"), Version: aws.String("$Default")},
		MinSize:        aws.Int32(1), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestLaunchTemplates(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	old := srv.Seed("us-east-1", ec2local.Image{Name: "old"})
	nu := srv.Seed("us-east-1", ec2local.Image{Name: "new"})
	id := fleet(t, c, asClient(hs, "us-east-1"), old)

	v, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(id), SourceVersion: aws.String("$Default"),
		VersionDescription: aws.String("bakery"), LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(nu)}})
	if err != nil {
		t.Fatal(err)
	}
	got := v.LaunchTemplateVersion
	if aws.ToInt64(got.VersionNumber) != 2 || aws.ToString(got.LaunchTemplateData.ImageId) != nu ||
		got.LaunchTemplateData.InstanceType != types.InstanceTypeT3Micro || aws.ToBool(got.DefaultVersion) {
		t.Fatalf("version 2: %+v %+v", got, got.LaunchTemplateData)
	}
	if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateName: aws.String("golden-prod"), DefaultVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"golden-prod"}})
	if err != nil || len(d.LaunchTemplates) != 1 || aws.ToInt64(d.LaunchTemplates[0].DefaultVersionNumber) != 2 || aws.ToInt64(d.LaunchTemplates[0].LatestVersionNumber) != 2 {
		t.Fatalf("DescribeLaunchTemplates: %+v, %v", d, err)
	}
	dv, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Default", "1"}})
	if err != nil || len(dv.LaunchTemplateVersions) != 2 || aws.ToString(dv.LaunchTemplateVersions[0].LaunchTemplateData.ImageId) != nu ||
		!aws.ToBool(dv.LaunchTemplateVersions[0].DefaultVersion) || aws.ToString(dv.LaunchTemplateVersions[1].LaunchTemplateData.ImageId) != old {
		t.Fatalf("DescribeLaunchTemplateVersions: %+v, %v", dv, err)
	}

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"unknown name", func() error {
			_, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"nope"}})
			return err
		}, "InvalidLaunchTemplateName.NotFoundException"},
		{"unknown id", func() error {
			_, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{"lt-0123456789abcdef0"}})
			return err
		}, "InvalidLaunchTemplateId.NotFound"},
		{"malformed id", func() error {
			_, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String("lt-x")})
			return err
		}, "InvalidLaunchTemplateId.Malformed"},
		{"unknown version", func() error {
			_, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String("9")})
			return err
		}, "InvalidLaunchTemplateId.VersionNotFound"},
		{"duplicate name", func() error {
			_, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("golden-prod"),
				LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(old)}})
			return err
		}, "InvalidLaunchTemplateName.AlreadyExistsException"},
		{"other region", func() error {
			_, err := client(hs, "eu-west-1", static(testKey)).DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"golden-prod"}})
			return err
		}, "InvalidLaunchTemplateName.NotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code, 400) })
	}
}

// pollRefresh describes the group's newest refresh until it ends, and
// returns the statuses seen.
func pollRefresh(t *testing.T, as *autoscaling.Client, group string) []astypes.InstanceRefresh {
	t.Helper()
	var seen []astypes.InstanceRefresh
	for range 20 {
		out, err := as.DescribeInstanceRefreshes(context.Background(), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
		if err != nil {
			t.Fatal(err)
		}
		r := out.InstanceRefreshes[0]
		seen = append(seen, r)
		switch r.Status {
		case astypes.InstanceRefreshStatusSuccessful, astypes.InstanceRefreshStatusFailed, astypes.InstanceRefreshStatusRollbackSuccessful:
			return seen
		}
	}
	t.Fatal("the refresh did not end")
	return nil
}

func statuses(rs []astypes.InstanceRefresh) string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Status))
	}
	return strings.Join(out, " ")
}

func TestInstanceRefresh(t *testing.T) {
	srv := ec2local.New(ec2local.WithRefreshPolls(2))
	hs := start(t, srv)
	ctx := context.Background()
	c, as := client(hs, "us-east-1", static(testKey)), asClient(hs, "us-east-1")
	old := srv.Seed("us-east-1", ec2local.Image{Name: "old"})
	nu := srv.Seed("us-east-1", ec2local.Image{Name: "new"})
	id := fleet(t, c, as, old)
	if _, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(id), SourceVersion: aws.String("1"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(nu)}}); err != nil {
		t.Fatal(err)
	}
	groups, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-prod", "nope"}})
	if err != nil || len(groups.AutoScalingGroups) != 1 || len(groups.AutoScalingGroups[0].Instances) != 2 ||
		aws.ToString(groups.AutoScalingGroups[0].LaunchTemplate.LaunchTemplateId) != id {
		t.Fatalf("DescribeAutoScalingGroups: %+v, %v", groups, err)
	}
	start := func(skip bool) string {
		t.Helper()
		out, err := as.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("web-prod"),
			DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String("2")}},
			Preferences:          &astypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(90), AutoRollback: aws.Bool(true), SkipMatching: aws.Bool(skip)}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.InstanceRefreshId)
	}

	t.Run("successful", func(t *testing.T) {
		rid := start(true)
		_, err := as.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("web-prod")})
		wantCode(t, err, "InstanceRefreshInProgress", 400)
		seen := pollRefresh(t, as, "web-prod")
		if got := statuses(seen); got != "Pending InProgress InProgress Successful" {
			t.Fatalf("statuses %s", got)
		}
		last := seen[len(seen)-1]
		if aws.ToString(last.InstanceRefreshId) != rid || aws.ToInt32(last.PercentageComplete) != 100 || aws.ToInt32(last.Preferences.MinHealthyPercentage) != 90 ||
			!aws.ToBool(last.Preferences.AutoRollback) || aws.ToString(last.DesiredConfiguration.LaunchTemplate.Version) != "2" || last.EndTime == nil {
			t.Fatalf("refresh %+v", last)
		}
		g, _ := srv.Group("us-east-1", "web-prod")
		if g.LaunchTemplateVersion != "2" || g.Instances[0].ImageID != nu {
			t.Fatalf("group %+v", g)
		}
		_, err = as.RollbackInstanceRefresh(ctx, &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String("web-prod")})
		wantCode(t, err, "ActiveInstanceRefreshNotFound", 400)
		// every instance runs version 2 now: with SkipMatching there is nothing to replace
		start(true)
		if got := statuses(pollRefresh(t, as, "web-prod")); got != "Successful" {
			t.Fatalf("statuses %s", got)
		}
	})
	t.Run("auto rollback", func(t *testing.T) {
		srv.FailNextRefresh("")
		start(false)
		seen := pollRefresh(t, as, "web-prod")
		if got := statuses(seen); got != "Pending InProgress InProgress RollbackInProgress RollbackSuccessful" {
			t.Fatalf("statuses %s", got)
		}
		if seen[len(seen)-1].RollbackDetails == nil || aws.ToString(seen[len(seen)-1].StatusReason) == "" {
			t.Fatalf("refresh %+v", seen[len(seen)-1])
		}
	})
	t.Run("rollback", func(t *testing.T) {
		start(false)
		out, err := as.RollbackInstanceRefresh(ctx, &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String("web-prod")})
		if err != nil || aws.ToString(out.InstanceRefreshId) == "" {
			t.Fatal(out, err)
		}
		if got := statuses(pollRefresh(t, as, "web-prod")); got != "RollbackInProgress RollbackSuccessful" {
			t.Fatalf("statuses %s", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := as.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("nope")})
		wantCode(t, err, "ValidationError", 400)
		_, err = as.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("nope")})
		wantCode(t, err, "ValidationError", 400)
		_, err = as.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("web-prod"),
			DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String("7")}}})
		wantCode(t, err, "ValidationError", 400)
	})
}
