package amis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// rolloutFleet serves srv (EC2 and Auto Scaling, through the SDK's
// AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL_AUTO_SCALING), and makes the
// launch template golden-prod on an old AMI in us-east-1 with the groups
// web-prod and api-prod of two instances each. It returns the old AMI, the
// environment's new one and the template id.
func rolloutFleet(t *testing.T, srv *ec2local.Server) (old, nu, lt string) {
	t.Helper()
	hs := serve(t, srv)
	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", hs.URL)
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDSETUP", "secret", ""),
		BaseEndpoint: aws.String(hs.URL), HTTPClient: hs.Client()}
	old = srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-prod-old"})
	nu = srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-prod-new"})
	out, err := ec2.NewFromConfig(cfg).CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("golden-prod"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(old), InstanceType: ec2types.InstanceTypeT3Micro}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"web-prod", "api-prod"} {
		if _, err := autoscaling.NewFromConfig(cfg).CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(g),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("golden-prod")},
			MinSize:        aws.Int32(1), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
	}
	srv.ResetCalls()
	return old, nu, aws.ToString(out.LaunchTemplate.LaunchTemplateId)
}

func prodRollout() amis.Rollout {
	return amis.Rollout{Key: "environments[2].aws.rollout[0]", Region: "us-east-1", LaunchTemplate: "golden-prod", SetDefault: true,
		Groups: []string{"web-prod", "api-prod"}, MinHealthyPercentage: 75, AutoRollback: true}
}

func actions(calls []ec2local.Call, names ...string) []string {
	var out []string
	for _, c := range calls {
		for _, n := range names {
			if c.Action == n {
				out = append(out, c.Action)
			}
		}
	}
	return out
}

func TestRollout(t *testing.T) {
	srv := ec2local.New(ec2local.WithRefreshPolls(2))
	_, nu, lt := rolloutFleet(t, srv)
	p := publisher(t, amis.Options{})
	ctx := context.Background()
	req := amis.RolloutRequest{Digest: testDigest, Environment: "prod", Target: "golden-base", AMIs: map[string]string{"us-east-1": nu},
		Rollouts: []amis.Rollout{prodRollout()}}
	if err := p.CheckRollout(ctx, req.Rollouts); err != nil {
		t.Fatal(err)
	}
	deps, err := p.Rollout(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 2 || deps[0].Group != "web-prod" || deps[1].Group != "api-prod" {
		t.Fatalf("deployments %+v", deps)
	}
	for _, d := range deps {
		if d.LaunchTemplateID != lt || d.Version != 2 || !d.Default || d.ImageID != nu || d.RefreshID == "" || d.State != "Pending" {
			t.Errorf("deployment %+v", d)
		}
	}
	tmpl, _ := srv.LaunchTemplate("us-east-1", "golden-prod")
	if tmpl.DefaultVersion != 2 || tmpl.Versions[1].ImageID != nu || tmpl.Versions[1].InstanceType != "t3.micro" ||
		!strings.Contains(tmpl.Versions[1].Description, testDigest) {
		t.Errorf("template %+v", tmpl)
	}
	r := srv.Refreshes("us-east-1", "web-prod")
	if len(r) != 1 || r[0].Version != "2" || r[0].LaunchTemplateID != lt || r[0].MinHealthyPercentage != 75 || !r[0].AutoRollback || !r[0].SkipMatching {
		t.Errorf("refresh %+v", r)
	}

	t.Run("converges", func(t *testing.T) {
		srv.ResetCalls()
		again, err := p.Rollout(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(srv.Calls(), "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "StartInstanceRefresh"); len(got) != 0 {
			t.Errorf("a second run changed things: %v", got)
		}
		if again[0].RefreshID != deps[0].RefreshID || again[1].RefreshID != deps[1].RefreshID {
			t.Errorf("second run %+v, first %+v", again, deps)
		}
	})
	t.Run("wait", func(t *testing.T) {
		var polls int
		final, err := amis.Wait(ctx, p, deps, time.Millisecond, func([]amis.Deployment) { polls++ })
		if err != nil {
			t.Fatal(err)
		}
		if polls == 0 || final[0].State != "Successful" || final[1].State != "Successful" {
			t.Errorf("after %d polls: %+v", polls, final)
		}
		g, _ := srv.Group("us-east-1", "web-prod")
		if g.Instances[0].ImageID != nu {
			t.Errorf("group %+v", g)
		}
		st, err := p.InspectRollout(ctx, map[string]string{"us-east-1": nu}, req.Rollouts)
		if err != nil || len(st) != 2 || st[0].Current == nil || !*st[0].Current || st[0].Version != 2 || st[0].State != "Successful" {
			t.Errorf("InspectRollout: %+v, %v", st, err)
		}
		// a re-run after success starts nothing
		srv.ResetCalls()
		if _, err := p.Rollout(ctx, req); err != nil {
			t.Fatal(err)
		}
		if got := actions(srv.Calls(), "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "StartInstanceRefresh"); len(got) != 0 {
			t.Errorf("a run after success changed things: %v", got)
		}
	})
	t.Run("rollback to the previous AMI fails and rolls back", func(t *testing.T) {
		old := tmpl.Versions[0].ImageID
		srv.FailNextRefresh("")
		back, err := p.Rollout(ctx, amis.RolloutRequest{Digest: testDigest, Environment: "prod", Target: "golden-base",
			AMIs: map[string]string{"us-east-1": old}, Rollouts: req.Rollouts})
		if err != nil {
			t.Fatal(err)
		}
		// the default (2) nor the latest (2) carries the old AMI: a new version 3
		if back[0].Version != 3 || !back[0].Default || back[0].ImageID != old {
			t.Fatalf("rollback %+v", back[0])
		}
		final, err := amis.Wait(ctx, p, back, time.Millisecond, nil)
		if failure.ClassOf(err) != failure.Deploy || !strings.Contains(err.Error(), "web-prod in us-east-1: RollbackSuccessful") ||
			!strings.Contains(err.Error(), "the promotion stands; the instances were not replaced") {
			t.Fatalf("Wait: %v", err)
		}
		if final[0].State != "RollbackSuccessful" || final[1].State != "Successful" {
			t.Errorf("final %+v", final)
		}
	})
}

func TestRolloutBadInput(t *testing.T) {
	srv := ec2local.New()
	_, nu, _ := rolloutFleet(t, srv)
	p := publisher(t, amis.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(*amis.Rollout)
		want   []string
	}{
		{"unknown template name", func(r *amis.Rollout) { r.LaunchTemplate = "nope" },
			[]string{"launch template nope in us-east-1: does not exist (environments[2].aws.rollout[0].launch_template)"}},
		{"unknown template id", func(r *amis.Rollout) { r.LaunchTemplate = "lt-0123456789abcdef0" },
			[]string{"launch template lt-0123456789abcdef0 in us-east-1: does not exist"}},
		{"template in another region", func(r *amis.Rollout) { r.Region = "eu-west-1" },
			[]string{"launch template golden-prod in eu-west-1: does not exist"}},
		{"unknown group", func(r *amis.Rollout) { r.Groups = []string{"web-prod", "nope"} },
			[]string{"Auto Scaling group nope in us-east-1: does not exist (environments[2].aws.rollout[0].auto_scaling_groups[1])"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := prodRollout()
			tc.change(&r)
			err := p.CheckRollout(ctx, []amis.Rollout{r})
			if failure.ClassOf(err) != failure.Config || strings.Contains(err.Error(), "\n") {
				t.Fatalf("class %v: %v", failure.ClassOf(err), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
	if got := actions(srv.Calls(), "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "StartInstanceRefresh"); len(got) != 0 {
		t.Errorf("checks changed things: %v", got)
	}

	req := amis.RolloutRequest{Digest: testDigest, Environment: "prod", Target: "golden-base", AMIs: map[string]string{"us-east-1": nu},
		Rollouts: []amis.Rollout{prodRollout()}}
	t.Run("AWS error mid-way", func(t *testing.T) {
		srv.FailNext("StartInstanceRefresh", "ValidationError", "something AWS did not like")
		deps, err := p.Rollout(ctx, req)
		if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "Auto Scaling group web-prod in us-east-1") {
			t.Fatalf("class %v: %v", failure.ClassOf(err), err)
		}
		if len(deps) != 1 || deps[0].Version != 2 || deps[0].RefreshID != "" {
			t.Errorf("deployments %+v: want what was done, the version made and no refresh", deps)
		}
		// re-running completes it, on the version the first run made
		deps, err = p.Rollout(ctx, req)
		if err != nil || len(deps) != 2 || deps[0].Version != 2 || deps[0].RefreshID == "" {
			t.Fatalf("re-run: %+v, %v", deps, err)
		}
		if tmpl, _ := srv.LaunchTemplate("us-east-1", "golden-prod"); tmpl.LatestVersion != 2 {
			t.Errorf("template %+v", tmpl)
		}
	})
	t.Run("refresh onto another version running", func(t *testing.T) {
		other := map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-prod-other"})}
		_, err := p.Rollout(ctx, amis.RolloutRequest{Digest: testDigest, Environment: "prod", Target: "golden-base", AMIs: other, Rollouts: req.Rollouts})
		if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "onto another launch template version, is still running") {
			t.Fatalf("class %v: %v", failure.ClassOf(err), err)
		}
	})
	t.Run("wait times out", func(t *testing.T) {
		deps := []amis.Deployment{{Region: "us-east-1", Group: "web-prod", RefreshID: "x", State: "InProgress"}}
		short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		_, err := amis.Wait(short, p, deps, time.Hour, nil)
		if failure.ClassOf(err) != failure.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("class %v: %v", failure.ClassOf(err), err)
		}
	})
}

// TestRolloutWithoutDefault: with set_default false the template's default
// never moves, and what a group runs is the version its newest refresh went
// onto: InspectRollout reports that one, current, not the default's old AMI.
func TestRolloutWithoutDefault(t *testing.T) {
	srv := ec2local.New(ec2local.WithRefreshPolls(1))
	_, nu, _ := rolloutFleet(t, srv)
	p := publisher(t, amis.Options{})
	ctx := context.Background()
	r := prodRollout()
	r.SetDefault = false
	req := amis.RolloutRequest{Digest: testDigest, Environment: "prod", Target: "golden-base", AMIs: map[string]string{"us-east-1": nu},
		Rollouts: []amis.Rollout{r}}
	deps, err := p.Rollout(ctx, req)
	if err != nil || len(deps) != 2 || deps[0].Default || deps[0].Version != 2 {
		t.Fatalf("rollout: %+v, %v", deps, err)
	}
	if _, err := amis.Wait(ctx, p, deps, time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	tmpl, _ := srv.LaunchTemplate("us-east-1", "golden-prod")
	if tmpl.DefaultVersion != 1 {
		t.Fatalf("the default moved to %d", tmpl.DefaultVersion)
	}
	st, err := p.InspectRollout(ctx, map[string]string{"us-east-1": nu}, req.Rollouts)
	if err != nil || len(st) != 2 {
		t.Fatalf("InspectRollout: %+v, %v", st, err)
	}
	for _, d := range st {
		if d.Version != 2 || d.Default || d.ImageID != nu || d.Current == nil || !*d.Current || d.State != "Successful" {
			t.Errorf("status %+v: want version 2 (not the default), current, Successful", d)
		}
	}
}
