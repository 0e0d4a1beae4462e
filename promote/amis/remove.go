package amis

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Remover deletes an environment's copies of a machine image for good (bakery gc).
type Remover interface {
	// Remove deregisters each AMI (region → id) and deletes its EBS
	// snapshots. It returns, region by region in sorted order, what it
	// removed; on error, what it removed before the error. Removing is
	// idempotent: run again, it finishes what an interrupted run left.
	Remove(ctx context.Context, amis map[string]string) ([]Removed, error)
}

// Removed is what Remove deleted in one region.
type Removed struct {
	// Region is the AMI's region.
	Region string `json:"region"`
	// AMI is the id of the AMI. Remove deregistered it, unless an earlier
	// run had already done so (then Snapshots is not empty).
	AMI string `json:"ami"`
	// Snapshots are the ids of the AMI's EBS snapshots Remove deleted,
	// sorted.
	Snapshots []string `json:"snapshots"`
}

var _ Remover = (*EC2)(nil)

// Remove runs, per region in sorted order: DescribeImages and
// DescribeSnapshots to learn the AMI's snapshots, DeregisterImage, then
// DeleteSnapshot for each snapshot. A region where the AMI and its snapshots
// are already gone has no Removed entry, so a second run removes nothing and
// returns none.
//
// The order is forced by EC2, which refuses to delete a snapshot that a
// registered AMI uses (InvalidSnapshot.InUse): the AMI goes first, and with
// it the only record of which snapshots were its. A run that stops between
// the two would leave snapshots the next run cannot learn from the AMI, so
// Remove also looks the snapshots up by their description, which EC2 writes
// when it makes them and which names the AMI:
//
//	Copied for DestinationAmi ami-… from SourceAmi ami-… for SourceSnapshot snap-…. Task created on ….   (CopyImage: every promoted copy)
//	Created by CreateImage(i-…) for ami-… from vol-…                                                    (CreateImage: a baked image)
//
// The filter names the AMI in the position of the image made, never of the
// source, so the snapshots of another environment's copy made from this AMI
// do not match. Every run takes the union of both lookups, which makes the
// sequence converge however often it is interrupted: an AMI already gone
// (InvalidAMIID.NotFound) is not deregistered again, a snapshot already gone
// (InvalidSnapshot.NotFound) is not an error. A snapshot that another AMI
// still uses is: Remove does not delete what something else needs, and says
// so.
func (p *EC2) Remove(ctx context.Context, amis map[string]string) ([]Removed, error) {
	var out []Removed
	err := p.eachAMI(ctx, amis, "remove", func(c *ec2.Client, region, id string) error {
		r, done, err := remove(ctx, c, id)
		if done {
			r.Region = region
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// remove deregisters the AMI id and deletes its snapshots, and reports what
// it removed and whether that was anything.
func remove(ctx context.Context, c *ec2.Client, id string) (Removed, bool, error) {
	r := Removed{AMI: id}
	snaps, registered, err := snapshotsOf(ctx, c, id)
	if err != nil {
		return r, false, err
	}
	deregistered := false
	if registered {
		_, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
		if err != nil && !notFound(err) {
			return r, false, fmt.Errorf("deregister %s: %w", id, err)
		}
		deregistered = err == nil
	}
	for _, snap := range snaps {
		_, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
		switch {
		case snapshotGone(err):
			continue
		case err != nil:
			return r, deregistered || len(r.Snapshots) > 0, fmt.Errorf("delete snapshot %s of %s: %w", snap, id, err)
		}
		r.Snapshots = append(r.Snapshots, snap)
	}
	return r, deregistered || len(r.Snapshots) > 0, nil
}

// snapshotsOf returns the sorted ids of the AMI's snapshots (those its block
// device mappings name and those whose description names it as the image
// made, see Remove) and whether the AMI is still registered. Disabled and
// deprecated AMIs count: they are what a withdrawal leaves.
func snapshotsOf(ctx context.Context, c *ec2.Client, id string) ([]string, bool, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		ImageIds: []string{id}, IncludeDisabled: aws.Bool(true), IncludeDeprecated: aws.Bool(true),
	})
	if err != nil && !notFound(err) {
		return nil, false, fmt.Errorf("describe %s: %w", id, err)
	}
	var ids []string
	registered := false
	if err == nil {
		for _, img := range out.Images {
			if aws.ToString(img.ImageId) != id || img.State == types.ImageStateDeregistered {
				continue
			}
			registered = true
			for _, m := range img.BlockDeviceMappings {
				if m.Ebs != nil && aws.ToString(m.Ebs.SnapshotId) != "" {
					ids = append(ids, aws.ToString(m.Ebs.SnapshotId))
				}
			}
		}
	}
	pages := ec2.NewDescribeSnapshotsPaginator(c, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters:  []types.Filter{{Name: aws.String("description"), Values: snapshotDescriptions(id)}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("look for the snapshots of %s: %w", id, err)
		}
		for _, s := range page.Snapshots {
			ids = append(ids, aws.ToString(s.SnapshotId))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), registered, nil
}

// snapshotDescriptions are the patterns (DescribeSnapshots filter values)
// of the descriptions EC2 gives the snapshots it makes for the AMI id, by
// CopyImage or CreateImage.
func snapshotDescriptions(id string) []string {
	return []string{
		"Copied for DestinationAmi " + id + " from *",
		"Created by CreateImage(*) for " + id,
		"Created by CreateImage(*) for " + id + " *",
	}
}

// snapshotGone reports whether err is EC2's answer that a snapshot does not
// exist.
func snapshotGone(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidSnapshot.NotFound"
}
