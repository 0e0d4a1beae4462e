//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// rolloutProject is dev and prod; prod gets its own AMIs in us-east-1 and
// rolls golden-ami out to the launch template lt and the group group.
func rolloutProject(t *testing.T, ns, lt, group string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  golden-ami:
    type: packer
    template: %s
    variables: {source_rootfs: %s}
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
environments:
  - name: dev
    repository: %s/%s/dev
  - name: prod
    repository: %s/%s/prod
    policies: [signed, provenance]
    aws:
      regions: [us-east-1]
      accounts: ["444455556666"]
      rollout:
        - target: golden-ami
          region: us-east-1
          launch_template: %s
          set_default: true
          auto_scaling_groups: [%s]
          min_healthy_percentage: 50
`, filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl"), rootfs, regAddr, ns, regAddr, ns, lt, group)})
	return filepath.Join(dir, "bakery.yaml")
}

// buildAMI builds golden-ami into dev and returns its digest.
func buildAMI(t *testing.T, cfg string) string {
	t.Helper()
	r := bakery(t, nil, "build", "golden-ami", "--config", cfg, "--progress", "quiet", "-o", "json")
	var out buildOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Targets) != 1 {
		t.Fatalf("build: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return out.Targets[0].Digest
}

func asClient() *autoscaling.Client {
	return autoscaling.New(autoscaling.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ec2URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAE2ETEST", "e2e-secret", ""),
	})
}

// rollouts is the "rollout" of a promote or rollback -o json result.
type deployment struct {
	Region, LaunchTemplate, LaunchTemplateID, ImageID, Group, RefreshID, State string
	Version                                                                    int64
	Default                                                                    bool
	Current                                                                    *bool
}

func rolloutOf(t *testing.T, res map[string]any) []deployment {
	t.Helper()
	b, _ := json.Marshal(res["rollout"])
	var deps []deployment
	if err := json.Unmarshal(b, &deps); err != nil {
		t.Fatal(err)
	}
	return deps
}

func countCalls(actions ...string) int {
	n := 0
	for _, c := range ec2.Calls() {
		for _, a := range actions {
			if c.Action == a {
				n++
			}
		}
	}
	return n
}

// TestRollout: a machine image promoted into prod replaces prod's instances
// through the local EC2 and Auto Scaling endpoint, driven by the unmodified
// aws-sdk-go-v2 clients in bakery: a missing launch template stops the
// promotion before anything is copied (exit 2); promote --wait makes a
// launch template version with prod's AMI, the default, and refreshes the
// group to Successful; a re-run changes nothing; status shows the version
// and the refresh; a refresh that fails and rolls back exits 8 with the
// promotion standing; and a rollback puts the earlier AMI back on the
// instances.
func TestRollout(t *testing.T) {
	ns := runID + "/rollout"
	lt, group := "golden-prod-e2e", "web-prod-e2e"
	cfg := rolloutProject(t, ns, lt, group)
	ctx := context.Background()
	wait := []string{"--wait", "--wait-interval", "20ms", "--wait-timeout", "1m"}

	first := buildAMI(t, cfg)

	// No launch template yet: one line, exit 2, naming region, template and key; nothing promoted.
	ec2.ResetCalls()
	r := bakery(t, nil, "promote", "golden-ami", "--to", "prod", "--config", cfg)
	if line := errorText(t, r); r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
		!strings.Contains(line, "launch template "+lt+" in us-east-1: does not exist (environments[1].aws.rollout[0].launch_template)") {
		t.Errorf("missing launch template: exit %d\n%s", r.code, r.stderr)
	}
	if n := countCalls("CopyImage", "CreateTags", "ModifyImageAttribute"); n != 0 || len(tags(t, ns+"/prod/golden-ami")) != 0 {
		t.Errorf("missing launch template: %d EC2 changes, prod tags %v", n, tags(t, ns+"/prod/golden-ami"))
	}

	// The fleet, made with the SDK as an operator's Terraform would.
	old := ec2.Seed("us-east-1", ec2local.Image{Name: "golden-ami-before-bakery"})
	tmpl, err := ec2Client("us-east-1").CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(lt),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(old), InstanceType: ec2types.InstanceTypeT3Micro}})
	if err != nil {
		t.Fatal(err)
	}
	ltID := aws.ToString(tmpl.LaunchTemplate.LaunchTemplateId)

	// The template, but no group: exit 2 naming the group's key.
	r = bakery(t, nil, "promote", "golden-ami", "--to", "prod", "--config", cfg)
	if line := errorText(t, r); r.code != 2 || !strings.Contains(line, "Auto Scaling group "+group+" in us-east-1: does not exist (environments[1].aws.rollout[0].auto_scaling_groups[0])") {
		t.Errorf("missing group: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := asClient().CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Default")},
		MinSize:        aws.Int32(2), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}

	// promote --wait: version 2 with prod's AMI, the default, refreshed.
	res, r := promoteJSONTarget(t, cfg, "golden-ami", append([]string{"--to", "prod"}, wait...)...)
	if r.code != 0 || res["receiptSigned"] != true {
		t.Fatalf("promote --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	prodAMI := res["amis"].(map[string]any)["us-east-1"].(string)
	deps := rolloutOf(t, res)
	if len(deps) != 1 || deps[0].LaunchTemplateID != ltID || deps[0].Version != 2 || !deps[0].Default || deps[0].ImageID != prodAMI ||
		deps[0].Group != group || deps[0].State != "Successful" {
		t.Errorf("rollout %+v, want version 2 of %s with %s, default, %s Successful", deps, ltID, prodAMI, group)
	}
	if !strings.Contains(r.stderr, "rollout: "+group+" in us-east-1 ("+lt+" v2): InProgress") ||
		!strings.Contains(r.stderr, "rollout: "+group+" in us-east-1 ("+lt+" v2): Successful 100%") {
		t.Errorf("no progress on stderr:\n%s", r.stderr)
	}
	if got, _ := ec2.LaunchTemplate("us-east-1", lt); got.DefaultVersion != 2 || got.Versions[1].ImageID != prodAMI ||
		got.Versions[1].InstanceType != "t3.micro" || !strings.Contains(got.Versions[1].Description, first) {
		t.Errorf("launch template %+v", got)
	}
	if rs := ec2.Refreshes("us-east-1", group); len(rs) != 1 || rs[0].MinHealthyPercentage != 50 || !rs[0].AutoRollback || !rs[0].SkipMatching {
		t.Errorf("refreshes %+v", rs)
	}
	if g, _ := ec2.Group("us-east-1", group); g.Instances[0].ImageID != prodAMI || g.LaunchTemplateVersion != "2" {
		t.Errorf("group %+v", g)
	}

	// Again: already promoted, and the rollout converges: no version, no refresh.
	ec2.ResetCalls()
	res, r = promoteJSONTarget(t, cfg, "golden-ami", "--to", "prod")
	if r.code != 0 || res["alreadyPromoted"] != true || countCalls("CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "StartInstanceRefresh") != 0 {
		t.Errorf("re-run: exit %d %v, calls %v", r.code, res, ec2.Calls())
	}

	// status: the default version carries prod's AMI, the refresh succeeded.
	s := bakery(t, nil, "status", "--config", cfg, "-o", "json", "--env", "prod")
	var rows []struct {
		Environment string
		Rollout     []deployment
	}
	if err := json.Unmarshal([]byte(s.stdout), &rows); err != nil || s.code != 0 || len(rows) != 1 || len(rows[0].Rollout) != 1 {
		t.Fatalf("status: exit %d %v\n%s\n%s", s.code, err, s.stdout, s.stderr)
	}
	if d := rows[0].Rollout[0]; d.Version != 2 || d.Current == nil || !*d.Current || d.State != "Successful" || d.Group != group {
		t.Errorf("status rollout %+v", d)
	}
	if txt := bakery(t, nil, "status", "--config", cfg, "--env", "prod"); !strings.Contains(txt.stdout, "ROLLOUT") || !strings.Contains(txt.stdout, "v2 1 Successful") {
		t.Errorf("status table:\n%s", txt.stdout)
	}

	// A second build whose refresh fails its health checks: auto rollback,
	// exit 8, the promotion stands.
	second := buildAMI(t, cfg)
	ec2.FailNextRefresh("Instances failed ELB health checks.")
	r = bakery(t, nil, append([]string{"promote", "golden-ami", "--to", "prod", "--config", cfg, "-o", "json"}, wait...)...)
	var failed struct {
		Promotions []struct{ Class, Outcome string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &failed); err != nil || len(failed.Promotions) != 1 || failed.Promotions[0].Class != "deploy" {
		t.Errorf("failing refresh: %v %+v\n%s", err, failed, r.stdout)
	}
	// stderr: the progress lines, then the JSON error
	var jerr struct{ Error, Class string }
	if i := strings.LastIndex(r.stderr, "{\n"); i >= 0 {
		_ = json.Unmarshal([]byte(r.stderr[i:]), &jerr)
	}
	if line := jerr.Error; r.code != 8 || jerr.Class != "deploy" || !strings.Contains(line, "ELB health checks") || !strings.Contains(line, group+" in us-east-1: RollbackSuccessful") ||
		!strings.Contains(line, "the promotion stands; the instances were not replaced") {
		t.Errorf("failing refresh: exit %d\n%s", r.code, r.stderr)
	}
	if got := tagOn(t, regAddr, ns+"/prod/golden-ami", "prod"); got != second {
		t.Errorf("prod tag %s after the failed refresh, want %s (the promotion stands)", got, second)
	}
	if g, _ := ec2.Group("us-east-1", group); g.Instances[0].ImageID != prodAMI {
		t.Errorf("group after auto rollback: %+v, want still on %s", g, prodAMI)
	}

	// Rollback: back to the first digest, and its AMI onto the instances.
	r = bakery(t, nil, append([]string{"rollback", "golden-ami", "--env", "prod", "--config", cfg, "-o", "json"}, wait...)...)
	var back map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &back); err != nil || r.code != 0 || back["digest"] != first {
		t.Fatalf("rollback: exit %d %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	deps = rolloutOf(t, back)
	if len(deps) != 1 || deps[0].ImageID != prodAMI || !deps[0].Default || deps[0].State != "Successful" {
		t.Errorf("rollback rollout %+v, want %s, default, Successful", deps, prodAMI)
	}
	if g, _ := ec2.Group("us-east-1", group); g.Instances[0].ImageID != prodAMI {
		t.Errorf("group after rollback: %+v", g)
	}
	if got, _ := ec2.LaunchTemplate("us-east-1", lt); got.Versions[got.DefaultVersion-1].ImageID != prodAMI {
		t.Errorf("launch template after rollback %+v", got)
	}

	// What a failed rollout's error says to run completes it, and after a
	// rollback finds it done: no version, no refresh.
	ec2.ResetCalls()
	res, r = promoteJSONTarget(t, cfg, "golden-ami", "--to", "prod", "--digest", first)
	if deps := rolloutOf(t, res); r.code != 0 || res["alreadyPromoted"] != true || len(deps) != 1 || deps[0].State != "Successful" ||
		countCalls("CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "StartInstanceRefresh") != 0 {
		t.Errorf("promote --digest after the rollback: exit %d %v\n%s", r.code, res, r.stderr)
	}
}
