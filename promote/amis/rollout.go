package amis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Rolling out is what follows a promotion once the environment has its
// AMIs: the instances that run the image are replaced. For each launch
// template the environment names (per region), a new version that differs
// from the default only in its ImageId is made, and made the default when
// configured; then each Auto Scaling group launched from the template gets
// an instance refresh onto that version, with a minimum healthy percentage,
// automatic rollback, and SkipMatching (instances already on the version
// stay).
//
// A rollout converges: run again, it reuses a default or latest version
// that already carries the AMI, and a refresh onto that version that is
// pending, in progress or successful, so it neither makes a second version
// nor starts a second refresh. It refuses (AWS would too, with
// InstanceRefreshInProgress) to start a refresh while one onto another
// version runs.

// Rollout is one launch template in one region and the groups launched from
// it.
type Rollout struct {
	// Key is where the template is configured (a bakery.yaml key such as
	// environments[2].aws.rollout[0]), for messages.
	Key    string
	Region string
	// LaunchTemplate is the template's name or id (lt-…).
	LaunchTemplate string
	// SetDefault makes the new version the template's default.
	SetDefault bool
	// Groups are the Auto Scaling groups refreshed onto the new version.
	Groups               []string
	MinHealthyPercentage int32
	AutoRollback         bool
}

// RolloutRequest asks for a digest's AMIs to be rolled out in an
// environment.
type RolloutRequest struct {
	Digest, Environment, Target string
	// AMIs maps a region to the environment's AMI there.
	AMIs     map[string]string
	Rollouts []Rollout
}

// Deployment is the state of one launch template and one of its groups (a
// template without groups has one Deployment with no Group).
type Deployment struct {
	Region string `json:"region"`
	// LaunchTemplate is the template as configured (name or id);
	// LaunchTemplateID its id.
	LaunchTemplate   string `json:"launchTemplate"`
	LaunchTemplateID string `json:"launchTemplateId"`
	// Version is the version that carries ImageID; Default says whether it
	// is the template's default version.
	Version int64  `json:"version"`
	Default bool   `json:"default"`
	ImageID string `json:"imageId"`
	// Current (status only) says whether the template's default version
	// carries the environment's AMI.
	Current *bool `json:"current,omitempty"`
	// Group, RefreshID and State are the group's instance refresh onto
	// Version: its id and status (Pending, InProgress, Successful, Failed,
	// Cancelled, RollbackInProgress, RollbackSuccessful, …); Percentage is
	// its PercentageComplete and Reason its StatusReason.
	Group      string `json:"group,omitempty"`
	RefreshID  string `json:"refreshId,omitempty"`
	State      string `json:"state,omitempty"`
	Percentage int32  `json:"percentageComplete,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Rollouter replaces the instances that run a machine image.
type Rollouter interface {
	// CheckRollout makes sure, changing nothing, that every launch template
	// and group exists: else a failure.Config error naming the first one
	// missing and its bakery.yaml key.
	CheckRollout(ctx context.Context, rollouts []Rollout) error
	// Rollout makes the versions and starts the refreshes (see the comment
	// above), returning a Deployment per template and group. On error it
	// returns what was done.
	Rollout(ctx context.Context, req RolloutRequest) ([]Deployment, error)
	// Refresh reads the state of each deployment's refresh again.
	Refresh(ctx context.Context, deps []Deployment) ([]Deployment, error)
	// InspectRollout reads, for status, what each template's default version runs
	// (Current says whether it is amis[region]) and each group's newest
	// refresh.
	InspectRollout(ctx context.Context, amis map[string]string, rollouts []Rollout) ([]Deployment, error)
}

var _ Rollouter = (*EC2)(nil)

// Terminal reports whether a refresh state is final; Succeeded whether it
// is the one final state in which the instances were replaced.
func Terminal(state string) bool {
	switch state {
	case "Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed":
		return true
	}
	return false
}

// running reports whether a refresh in state blocks another.
func running(state string) bool {
	switch state {
	case "Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking":
		return true
	}
	return false
}

// autoScaling returns an Auto Scaling client for region. With
// Options.Endpoint set, it is that endpoint too (promote/amis/ec2local
// serves both APIs on one URL); otherwise the standard resolution, which
// honours AWS_ENDPOINT_URL_AUTO_SCALING and AWS_ENDPOINT_URL.
func (p *EC2) autoScaling(region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(p.cfg, func(o *autoscaling.Options) {
		o.Region = region
		if p.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.opts.Endpoint)
		}
	})
}

// awsError classifies an AWS error met while rolling out: refused
// credentials are a configuration problem, anything else is AWS being
// unavailable to this rollout (exit 6).
func awsError(subject string, err error) error {
	class := classify(err)
	if class == failure.Internal {
		class = failure.Unavailable
	}
	return failure.New(class, subject, fmt.Errorf("amis: %w", err), "")
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// template is a launch template as DescribeLaunchTemplates reports it.
type template struct {
	id              string
	defVer, lastVer int64
}

// describeTemplate finds r's launch template; a template that does not
// exist is a failure.Config error naming r.Key.
func (p *EC2) describeTemplate(ctx context.Context, r Rollout) (template, error) {
	in := &ec2.DescribeLaunchTemplatesInput{}
	if strings.HasPrefix(r.LaunchTemplate, "lt-") {
		in.LaunchTemplateIds = []string{r.LaunchTemplate}
	} else {
		in.LaunchTemplateNames = []string{r.LaunchTemplate}
	}
	subject := fmt.Sprintf("launch template %s in %s", r.LaunchTemplate, r.Region)
	out, err := p.client(r.Region).DescribeLaunchTemplates(ctx, in)
	switch code := apiCode(err); {
	case strings.HasPrefix(code, "InvalidLaunchTemplateName.") || strings.HasPrefix(code, "InvalidLaunchTemplateId.") || (err == nil && len(out.LaunchTemplates) == 0):
		return template{}, failure.New(failure.Config, subject, fmt.Errorf("does not exist (%s.launch_template)", r.Key),
			"create it, or fix the name or id in bakery.yaml; nothing was promoted")
	case err != nil:
		return template{}, awsError(subject, err)
	}
	lt := out.LaunchTemplates[0]
	return template{id: aws.ToString(lt.LaunchTemplateId), defVer: aws.ToInt64(lt.DefaultVersionNumber), lastVer: aws.ToInt64(lt.LatestVersionNumber)}, nil
}

// CheckRollout checks that every launch template and group exists.
func (p *EC2) CheckRollout(ctx context.Context, rollouts []Rollout) error {
	for _, r := range rollouts {
		if _, err := p.describeTemplate(ctx, r); err != nil {
			return err
		}
		if len(r.Groups) == 0 {
			continue
		}
		out, err := p.autoScaling(r.Region).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: r.Groups})
		if err != nil {
			return awsError(fmt.Sprintf("Auto Scaling groups %s in %s", strings.Join(r.Groups, ", "), r.Region), err)
		}
		found := map[string]bool{}
		for _, g := range out.AutoScalingGroups {
			found[aws.ToString(g.AutoScalingGroupName)] = true
		}
		for i, g := range r.Groups {
			if !found[g] {
				return failure.New(failure.Config, fmt.Sprintf("Auto Scaling group %s in %s", g, r.Region),
					fmt.Errorf("does not exist (%s.auto_scaling_groups[%d])", r.Key, i), "create it, or fix its name in bakery.yaml; nothing was promoted")
			}
		}
	}
	return nil
}

// Rollout makes the versions and starts the refreshes, one template at a
// time in the order configured.
func (p *EC2) Rollout(ctx context.Context, req RolloutRequest) ([]Deployment, error) {
	var deps []Deployment
	for _, r := range req.Rollouts {
		ami := req.AMIs[r.Region]
		if ami == "" {
			return deps, failure.New(failure.Config, fmt.Sprintf("launch template %s in %s", r.LaunchTemplate, r.Region),
				fmt.Errorf("the environment has no AMI of %s in %s (%s.region)", req.Target, r.Region, r.Key), "add the region to aws.regions")
		}
		base, err := p.version(ctx, req, r, ami)
		if err != nil {
			return deps, err
		}
		if len(r.Groups) == 0 {
			deps = append(deps, base)
			continue
		}
		for _, g := range r.Groups {
			d := base
			d.Group = g
			if d, err = p.refresh(ctx, r, d); err != nil {
				return append(deps, d), err // its template version was made
			}
			deps = append(deps, d)
		}
	}
	return deps, nil
}

// version returns the template version that carries ami: the default or
// the latest if one does, else a new one made from the default; and makes
// it the default when r says so.
func (p *EC2) version(ctx context.Context, req RolloutRequest, r Rollout, ami string) (Deployment, error) {
	lt, err := p.describeTemplate(ctx, r)
	if err != nil {
		return Deployment{}, err
	}
	c := p.client(r.Region)
	subject := fmt.Sprintf("launch template %s in %s", r.LaunchTemplate, r.Region)
	d := Deployment{Region: r.Region, LaunchTemplate: r.LaunchTemplate, LaunchTemplateID: lt.id, ImageID: ami}
	out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(lt.id),
		Versions: []string{strconv.FormatInt(lt.defVer, 10), strconv.FormatInt(lt.lastVer, 10)}})
	if err != nil {
		return d, awsError(subject, err)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil && aws.ToString(v.LaunchTemplateData.ImageId) == ami {
			d.Version = aws.ToInt64(v.VersionNumber)
			break
		}
	}
	if d.Version == 0 {
		made, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId:   aws.String(lt.id),
			SourceVersion:      aws.String(strconv.FormatInt(lt.defVer, 10)),
			VersionDescription: aws.String(describe(req)),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami)},
		})
		if err != nil {
			return d, awsError(subject, fmt.Errorf("create version: %w", err))
		}
		d.Version = aws.ToInt64(made.LaunchTemplateVersion.VersionNumber)
	}
	d.Default = d.Version == lt.defVer
	if r.SetDefault && !d.Default {
		if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(lt.id),
			DefaultVersion: aws.String(strconv.FormatInt(d.Version, 10))}); err != nil {
			return d, awsError(subject, fmt.Errorf("make version %d the default: %w", d.Version, err))
		}
		d.Default = true
	}
	return d, nil
}

// describe is a new version's description (EC2 allows 255 characters).
func describe(req RolloutRequest) string {
	s := fmt.Sprintf("bakery: %s %s in %s", req.Target, req.Digest, req.Environment)
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// newest returns the group's newest instance refresh, if any.
func (p *EC2) newest(ctx context.Context, region, group string) (*astypes.InstanceRefresh, error) {
	out, err := p.autoScaling(region).DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(1)})
	if err != nil {
		return nil, err
	}
	if len(out.InstanceRefreshes) == 0 {
		return nil, nil
	}
	return &out.InstanceRefreshes[0], nil
}

// onto reports whether refresh r replaces instances with version v of the
// template id.
func onto(r *astypes.InstanceRefresh, id string, v int64) bool {
	if r == nil || r.DesiredConfiguration == nil || r.DesiredConfiguration.LaunchTemplate == nil {
		return false
	}
	lt := r.DesiredConfiguration.LaunchTemplate
	return aws.ToString(lt.LaunchTemplateId) == id && aws.ToString(lt.Version) == strconv.FormatInt(v, 10)
}

// observe records a refresh's state. Its reason is the StatusReason, or,
// for a refresh rolled back, why it was (RollbackDetails.RollbackReason),
// which says what failed.
func (d *Deployment) observe(r *astypes.InstanceRefresh) {
	d.RefreshID, d.State = aws.ToString(r.InstanceRefreshId), string(r.Status)
	d.Percentage, d.Reason = aws.ToInt32(r.PercentageComplete), aws.ToString(r.StatusReason)
	if r.RollbackDetails != nil && aws.ToString(r.RollbackDetails.RollbackReason) != "" {
		d.Reason = aws.ToString(r.RollbackDetails.RollbackReason)
	}
}

// refresh starts d.Group's instance refresh onto d.Version, unless one onto
// it is pending, in progress or successful already.
func (p *EC2) refresh(ctx context.Context, r Rollout, d Deployment) (Deployment, error) {
	subject := fmt.Sprintf("Auto Scaling group %s in %s", d.Group, d.Region)
	cur, err := p.newest(ctx, d.Region, d.Group)
	if err != nil {
		return d, awsError(subject, err)
	}
	if cur != nil && (running(string(cur.Status)) || cur.Status == astypes.InstanceRefreshStatusSuccessful) && onto(cur, d.LaunchTemplateID, d.Version) {
		d.observe(cur)
		return d, nil
	}
	busy := func(id string) error {
		return failure.New(failure.Unavailable, subject, fmt.Errorf("instance refresh %s, onto another launch template version, is still running", id),
			"wait for it to end (or roll it back), then promote the digest again")
	}
	if cur != nil && running(string(cur.Status)) {
		return d, busy(aws.ToString(cur.InstanceRefreshId))
	}
	out, err := p.autoScaling(d.Region).StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(d.Group),
		Strategy:             astypes.RefreshStrategyRolling,
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(d.LaunchTemplateID), Version: aws.String(strconv.FormatInt(d.Version, 10))}},
		Preferences: &astypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(r.MinHealthyPercentage),
			AutoRollback: aws.Bool(r.AutoRollback), SkipMatching: aws.Bool(true)},
	})
	if apiCode(err) == "InstanceRefreshInProgress" {
		return d, busy("(another)")
	}
	if err != nil {
		return d, awsError(subject, fmt.Errorf("start instance refresh: %w", err))
	}
	d.RefreshID, d.State = aws.ToString(out.InstanceRefreshId), string(astypes.InstanceRefreshStatusPending)
	return d, nil
}

// Refresh reads the state of each deployment's refresh again.
func (p *EC2) Refresh(ctx context.Context, deps []Deployment) ([]Deployment, error) {
	out := slices.Clone(deps)
	for i, d := range out {
		if d.RefreshID == "" || Terminal(d.State) {
			continue
		}
		res, err := p.autoScaling(d.Region).DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
			AutoScalingGroupName: aws.String(d.Group), InstanceRefreshIds: []string{d.RefreshID}})
		if err != nil {
			return out, awsError(fmt.Sprintf("Auto Scaling group %s in %s", d.Group, d.Region), err)
		}
		if len(res.InstanceRefreshes) > 0 {
			out[i].observe(&res.InstanceRefreshes[0])
		}
	}
	return out, nil
}

// InspectRollout reads what each template's default version runs and each group's
// newest refresh.
func (p *EC2) InspectRollout(ctx context.Context, amis map[string]string, rollouts []Rollout) ([]Deployment, error) {
	var deps []Deployment
	for _, r := range rollouts {
		lt, err := p.describeTemplate(ctx, r)
		if err != nil {
			return deps, err
		}
		subject := fmt.Sprintf("launch template %s in %s", r.LaunchTemplate, r.Region)
		out, err := p.client(r.Region).DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
			LaunchTemplateId: aws.String(lt.id), Versions: []string{strconv.FormatInt(lt.defVer, 10)}})
		if err != nil {
			return deps, awsError(subject, err)
		}
		base := Deployment{Region: r.Region, LaunchTemplate: r.LaunchTemplate, LaunchTemplateID: lt.id, Version: lt.defVer, Default: true}
		if len(out.LaunchTemplateVersions) > 0 && out.LaunchTemplateVersions[0].LaunchTemplateData != nil {
			base.ImageID = aws.ToString(out.LaunchTemplateVersions[0].LaunchTemplateData.ImageId)
		}
		current := base.ImageID != "" && base.ImageID == amis[r.Region]
		base.Current = &current
		if len(r.Groups) == 0 {
			deps = append(deps, base)
		}
		for _, g := range r.Groups {
			d := base
			d.Group = g
			cur, err := p.newest(ctx, r.Region, g)
			if err != nil {
				return deps, awsError(fmt.Sprintf("Auto Scaling group %s in %s", g, r.Region), err)
			}
			if cur != nil {
				d.observe(cur)
				if !r.SetDefault {
					// the default never moves: what the group runs is the
					// version its newest refresh went onto
					if d, err = p.refreshedVersion(ctx, d, cur, amis[r.Region], lt.defVer); err != nil {
						return deps, err
					}
				}
			}
			deps = append(deps, d)
		}
	}
	return deps, nil
}

// refreshedVersion sets d's version, AMI and Current from the launch
// template version refresh cur went onto, when it is one of d's template.
func (p *EC2) refreshedVersion(ctx context.Context, d Deployment, cur *astypes.InstanceRefresh, ami string, defVer int64) (Deployment, error) {
	if cur.DesiredConfiguration == nil || cur.DesiredConfiguration.LaunchTemplate == nil ||
		aws.ToString(cur.DesiredConfiguration.LaunchTemplate.LaunchTemplateId) != d.LaunchTemplateID {
		return d, nil
	}
	v, err := strconv.ParseInt(aws.ToString(cur.DesiredConfiguration.LaunchTemplate.Version), 10, 64)
	if err != nil {
		return d, nil // $Default or $Latest: the default's, as read
	}
	out, err := p.client(d.Region).DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(d.LaunchTemplateID), Versions: []string{strconv.FormatInt(v, 10)}})
	if err != nil {
		return d, awsError(fmt.Sprintf("launch template %s in %s", d.LaunchTemplate, d.Region), err)
	}
	d.Version, d.Default, d.ImageID = v, v == defVer, ""
	if len(out.LaunchTemplateVersions) > 0 && out.LaunchTemplateVersions[0].LaunchTemplateData != nil {
		d.ImageID = aws.ToString(out.LaunchTemplateVersions[0].LaunchTemplateData.ImageId)
	}
	current := d.ImageID != "" && d.ImageID == ami
	d.Current = &current
	return d, nil
}

// Wait polls the deployments' refreshes every interval until each has
// ended, calling progress after each poll, and returns their final states.
// A refresh that ended other than Successful is a failure.Deploy error; the
// context's deadline is the timeout.
func Wait(ctx context.Context, r Rollouter, deps []Deployment, interval time.Duration, progress func([]Deployment)) ([]Deployment, error) {
	for {
		pending := false
		for _, d := range deps {
			if d.RefreshID != "" && !Terminal(d.State) {
				pending = true
			}
		}
		if !pending {
			break
		}
		select {
		case <-ctx.Done():
			return deps, failure.New(failure.Unavailable, "instance refresh", fmt.Errorf("still running after the wait: %w", context.Cause(ctx)),
				"the promotion stands; see bakery status, or wait longer with --wait-timeout")
		case <-time.After(interval):
		}
		var err error
		if deps, err = r.Refresh(ctx, deps); err != nil {
			if ctx.Err() != nil { // the wait ran out during the call: say so, not "unavailable"
				return deps, failure.New(failure.Unavailable, "instance refresh", fmt.Errorf("still running after the wait: %w", context.Cause(ctx)),
					"the promotion stands; see bakery status, or wait longer with --wait-timeout")
			}
			return deps, err
		}
		if progress != nil {
			progress(deps)
		}
	}
	var bad []string
	for _, d := range deps {
		if d.RefreshID != "" && d.State != string(astypes.InstanceRefreshStatusSuccessful) {
			msg := fmt.Sprintf("%s in %s: %s", d.Group, d.Region, d.State)
			if d.Reason != "" {
				msg += " (" + d.Reason + ")"
			}
			bad = append(bad, msg)
		}
	}
	if len(bad) > 0 {
		return deps, failure.New(failure.Deploy, "instance refresh", errors.New(strings.Join(bad, "; ")),
			"the promotion stands; the instances were not replaced: see the group's scaling activities, fix the cause, then promote the digest again")
	}
	return deps, nil
}
