package amis

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// publish makes sure region holds the environment's copy, available and
// shared, and returns its id.
//
// The steps are ordered so that a run that stops anywhere leaves a state the
// next run recognises:
//
//  1. Look for a copy tagged with the digest, environment and target.
//  2. If there is none, CopyImage with the tags in its TagSpecifications,
//     so the copy is findable from the instant it exists (there is no
//     window between copying and tagging), and with a client token derived
//     from digest, target, environment and region, so a CopyImage retried
//     after a lost answer returns the same image.
//  3. Wait until the copy is available. An interrupted wait leaves a tagged,
//     pending copy that the next run finds and waits for.
//  4. Share it: launch permission for the accounts that do not have it.
//     Sharing comes last so that no account is ever offered an image that
//     is not finished; a crash before it leaves an unshared copy, which the
//     next run shares.
func (p *EC2) publish(ctx context.Context, req Request, region string) (string, error) {
	c := p.client(region)
	want := req.tags()
	existing, err := find(ctx, c, req, region)
	if err != nil {
		return "", err
	}
	var id string
	if existing == nil {
		srcRegion, srcID := req.source(region)
		out, err := c.CopyImage(ctx, &ec2.CopyImageInput{
			SourceImageId: aws.String(srcID),
			SourceRegion:  aws.String(srcRegion),
			Name:          aws.String(req.name()),
			Description:   aws.String(req.description()),
			ClientToken:   aws.String(req.clientToken(region)),
			TagSpecifications: []types.TagSpecification{
				{ResourceType: types.ResourceTypeImage, Tags: ec2Tags(want)},
			},
		})
		if err != nil {
			return "", fmt.Errorf("copy %s from %s: %w", srcID, srcRegion, err)
		}
		id = aws.ToString(out.ImageId)
	} else {
		id = aws.ToString(existing.ImageId)
		if err := retag(ctx, c, existing, want); err != nil {
			return "", err
		}
	}
	if existing == nil || existing.State != types.ImageStateAvailable {
		if err := p.wait(ctx, c, id); err != nil {
			return "", err
		}
	}
	if err := share(ctx, c, id, req.accounts()); err != nil {
		return "", err
	}
	return id, nil
}

// find returns the copy an earlier run made for the request in region, or
// nil. A copy that failed is an error: EC2 would answer a new CopyImage with
// the same token with the same failed image, and its name is taken.
func find(ctx context.Context, c *ec2.Client, req Request, region string) (*types.Image, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners: []string{"self"},
		Filters: []types.Filter{
			{Name: aws.String("tag:" + TagDigest), Values: []string{req.Digest}},
			{Name: aws.String("tag:" + TagEnvironment), Values: []string{req.Environment}},
			{Name: aws.String("tag:" + TagTarget), Values: []string{req.Target}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("look for an earlier copy: %w", err)
	}
	imgs := out.Images
	slices.SortFunc(imgs, func(a, b types.Image) int { return rank(a) - rank(b) })
	if len(imgs) == 0 {
		return nil, nil
	}
	if img := imgs[0]; rank(img) > 1 {
		return nil, fmt.Errorf("earlier copy: %w (deregister it to publish again)",
			&StateError{Region: region, ID: aws.ToString(img.ImageId), State: string(img.State)})
	}
	return &imgs[0], nil
}

// rank orders copies by how usable they are: available, then pending, then
// anything else.
func rank(img types.Image) int {
	switch img.State {
	case types.ImageStateAvailable:
		return 0
	case types.ImageStatePending:
		return 1
	default:
		return 2
	}
}

// retag sets the tags of want that img lacks or has with another value.
func retag(ctx context.Context, c *ec2.Client, img *types.Image, want map[string]string) error {
	have := map[string]string{}
	for _, t := range img.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	missing := maps.Clone(want)
	maps.DeleteFunc(missing, func(k, v string) bool {
		got, ok := have[k]
		return ok && got == v
	})
	if len(missing) == 0 {
		return nil
	}
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(img.ImageId)}, Tags: ec2Tags(missing)})
	if err != nil {
		return fmt.Errorf("tag %s: %w", aws.ToString(img.ImageId), err)
	}
	return nil
}

// wait waits until the image is available.
func (p *EC2) wait(ctx context.Context, c *ec2.Client, id string) error {
	w := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = p.opts.MinDelay, p.opts.MaxDelay
		retryable := o.Retryable
		o.Retryable = func(ctx context.Context, in *ec2.DescribeImagesInput, out *ec2.DescribeImagesOutput, err error) (bool, error) {
			// EC2 is eventually consistent: a copy can be missing from
			// DescribeImages for a moment after CopyImage returned its id.
			if notFound(err) {
				return true, nil
			}
			return retryable(ctx, in, out, err)
		}
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, p.opts.MaxWait); err != nil {
		return fmt.Errorf("wait for %s to become available: %w", id, err)
	}
	return nil
}

// share grants launch permission on the image to the accounts that lack it.
func share(ctx context.Context, c *ec2.Client, id string, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	out, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{
		ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission,
	})
	if err != nil {
		return fmt.Errorf("read launch permissions of %s: %w", id, err)
	}
	var add []types.LaunchPermission
	for _, a := range accounts {
		if !slices.ContainsFunc(out.LaunchPermissions, func(p types.LaunchPermission) bool { return aws.ToString(p.UserId) == a }) {
			add = append(add, types.LaunchPermission{UserId: aws.String(a)})
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId:          aws.String(id),
		LaunchPermission: &types.LaunchPermissionModifications{Add: add},
	})
	if err != nil {
		return fmt.Errorf("share %s: %w", id, err)
	}
	return nil
}

// ec2Tags returns tags as EC2 takes them, sorted by key.
func ec2Tags(tags map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}
