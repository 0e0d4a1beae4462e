package promote

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/promote/amis/ec2local"
	"github.com/bakeryhq/bakery/receipt"
)

const rolloutDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// rolloutWorld is ec2local in-process with the launch template golden-prod
// (on an old AMI) and the group web-prod in us-east-1, a config whose prod
// rolls golden-ami out there, and Clouds that talk to the server.
func rolloutWorld(t *testing.T) (*ec2local.Server, *config.Config, NewClouds, string) {
	t.Helper()
	srv := ec2local.New(ec2local.WithRefreshPolls(1))
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_AUTO_SCALING", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPROMOTETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	awscfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDSETUP", "secret", ""),
		BaseEndpoint: aws.String(hs.URL), HTTPClient: hs.Client()}
	old := srv.Seed("us-east-1", ec2local.Image{Name: "golden-ami-old"})
	if _, err := ec2.NewFromConfig(awscfg).CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("golden-prod"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(old)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := autoscaling.NewFromConfig(awscfg).CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("web-prod"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("golden-prod")},
		MinSize:        aws.Int32(1), MaxSize: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	half := 50
	cfg := &config.Config{Environments: []config.Environment{{Name: "dev"}, {Name: "prod", AWS: &config.AWS{Regions: []string{"us-east-1"},
		Rollout: []config.Rollout{
			{Target: "other", Region: "us-east-1", LaunchTemplate: "x-prod"},
			{Target: "golden-ami", Region: "us-east-1", LaunchTemplate: "golden-prod", SetDefault: true, AutoScalingGroups: []string{"web-prod"}, MinHealthyPercentage: &half},
		}}}}}
	clouds := func(ctx context.Context, _ *config.AWS) (Clouds, error) {
		return amis.New(ctx, amis.Options{Endpoint: hs.URL})
	}
	return srv, cfg, clouds, srv.Seed("us-east-1", ec2local.Image{Name: "golden-ami-prod"})
}

func TestRolloutsOf(t *testing.T) {
	_, cfg, _, _ := rolloutWorld(t)
	got := rolloutsOf(cfg, "golden-ami", &cfg.Environments[1])
	if len(got) != 1 || got[0].Key != "environments[1].aws.rollout[1]" || got[0].MinHealthyPercentage != 50 || !got[0].AutoRollback ||
		!got[0].SetDefault || got[0].Groups[0] != "web-prod" {
		t.Errorf("rolloutsOf = %+v", got)
	}
	if rolloutsOf(cfg, "golden-ami", &cfg.Environments[0]) != nil {
		t.Error("dev has no aws settings")
	}
}

func TestRolloutStep(t *testing.T) {
	srv, cfg, clouds, prodAMI := rolloutWorld(t)
	ctx := context.Background()
	p := New(Options{Config: cfg, Clouds: clouds})
	prod := &cfg.Environments[1]

	step, err := p.planRollout(ctx, nil, "golden-ami", rolloutDigest, prod)
	if err != nil || step == nil {
		t.Fatalf("planRollout: %v, %v", step, err)
	}
	var progress bytes.Buffer
	res := &Result{Action: receipt.ActionPromote, Target: "golden-ami", Environment: "prod", AMIs: map[string]string{"us-east-1": prodAMI}}
	if err := step.run(ctx, res, Wait{Timeout: time.Minute, Interval: time.Millisecond, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if len(res.Rollout) != 1 || res.Rollout[0].Version != 2 || res.Rollout[0].State != "Successful" || !res.Rollout[0].Default {
		t.Errorf("rollout %+v", res.Rollout)
	}
	if !strings.Contains(progress.String(), "rollout: web-prod in us-east-1 (golden-prod v2): Successful 100%") {
		t.Errorf("progress:\n%s", progress.String())
	}

	t.Run("status", func(t *testing.T) {
		st := []Status{{Target: "golden-ami", Environment: "prod", AMIs: res.AMIs}, {Target: "golden-ami", Environment: "dev", AMIs: res.AMIs}}
		if err := RolloutStatus(ctx, cfg, clouds, st); err != nil {
			t.Fatal(err)
		}
		if d := st[0].Rollout; len(d) != 1 || d[0].Current == nil || !*d[0].Current || d[0].State != "Successful" || st[1].Rollout != nil {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("refresh rolled back", func(t *testing.T) {
		srv.FailNextRefresh("Instances failed ELB health checks.")
		res := &Result{Action: receipt.ActionRollback, Target: "golden-ami", Environment: "prod",
			AMIs: map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{Name: "golden-ami-prod-2"})}}
		err := step.run(ctx, res, Wait{Timeout: time.Minute, Interval: time.Millisecond})
		if failure.ClassOf(err) != failure.Deploy || !strings.Contains(err.Error(), "roll golden-ami out in prod: instance refresh: web-prod in us-east-1: RollbackSuccessful") ||
			!strings.Contains(err.Error(), "ELB health checks") {
			t.Errorf("class %v: %v", failure.ClassOf(err), err)
		}
	})
	t.Run("AWS error", func(t *testing.T) {
		srv.FailNext("CreateLaunchTemplateVersion", "InvalidParameterValue", "something EC2 refused")
		res := &Result{Action: receipt.ActionRollback, Target: "golden-ami", Environment: "prod",
			AMIs: map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{Name: "golden-ami-prod-3"})}}
		err := step.run(ctx, res, Wait{})
		if failure.ClassOf(err) != failure.Unavailable || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "complete the rollout with bakery promote golden-ami --to prod --digest "+rolloutDigest) {
			t.Errorf("class %v: %v", failure.ClassOf(err), err)
		}
	})
	t.Run("missing group", func(t *testing.T) {
		bad := *prod
		a := *prod.AWS
		a.Rollout = []config.Rollout{{Target: "golden-ami", Region: "us-east-1", LaunchTemplate: "golden-prod", AutoScalingGroups: []string{"nope"}}}
		bad.AWS = &a
		srv.ResetCalls()
		_, err := p.planRollout(ctx, nil, "golden-ami", rolloutDigest, &bad)
		if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "Auto Scaling group nope in us-east-1: does not exist") {
			t.Errorf("class %v: %v", failure.ClassOf(err), err)
		}
		for _, c := range srv.Calls() {
			if strings.HasPrefix(c.Action, "Create") || strings.HasPrefix(c.Action, "Start") || strings.HasPrefix(c.Action, "Modify") {
				t.Errorf("the check called %s", c.Action)
			}
		}
	})
}
