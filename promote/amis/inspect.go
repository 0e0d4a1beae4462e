package amis

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Image is what EC2 says about one AMI now.
type Image struct {
	Region string `json:"region"`
	ID     string `json:"id"`
	// Found is false when the AMI is not there: deregistered, or not
	// visible to the credentials in use.
	Found bool   `json:"found"`
	State string `json:"state,omitempty"`
	// Deprecated says its deprecation time has passed.
	Deprecated bool              `json:"deprecated,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	// LaunchAccounts are the account ids with launch permission, sorted.
	LaunchAccounts []string `json:"launchAccounts,omitempty"`
}

// Inspector reads AMIs without changing anything: bakery drift compares
// what they are with what the receipts say they should be.
type Inspector interface {
	Inspect(ctx context.Context, region, id string) (Image, error)
}

var _ Inspector = (*EC2)(nil)

// Inspect runs DescribeImages and DescribeImageAttribute (launchPermission)
// for one AMI.
func (p *EC2) Inspect(ctx context.Context, region, id string) (Image, error) {
	img := Image{Region: region, ID: id}
	if err := p.checkCredentials(ctx); err != nil {
		return img, err
	}
	fail := func(err error) (Image, error) {
		return img, failure.New(classify(err), fmt.Sprintf("AMI %s in %s", id, region), fmt.Errorf("amis: %w", err), "")
	}
	c := p.client(region)
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, IncludeDisabled: aws.Bool(true)})
	if notFound(err) || (err == nil && len(out.Images) == 0) {
		return img, nil
	}
	if err != nil {
		return fail(err)
	}
	describeImage(&img, out.Images[0], time.Now())
	attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		return fail(err)
	}
	for _, lp := range attr.LaunchPermissions {
		if lp.UserId != nil {
			img.LaunchAccounts = append(img.LaunchAccounts, *lp.UserId)
		}
	}
	sort.Strings(img.LaunchAccounts)
	return img, nil
}

func describeImage(img *Image, im types.Image, now time.Time) {
	img.Found, img.State = true, string(im.State)
	if im.DeprecationTime != nil {
		if at, err := time.Parse(time.RFC3339, *im.DeprecationTime); err == nil && !at.After(now) {
			img.Deprecated = true
		}
	}
	img.Tags = map[string]string{}
	for _, t := range im.Tags {
		img.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
}
