package ec2local_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// snapshotOf returns the snapshot id of the image's root device, as
// DescribeImages reports it.
func snapshotOf(t *testing.T, c *ec2.Client, id string) string {
	t.Helper()
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 || len(out.Images[0].BlockDeviceMappings) != 1 || out.Images[0].BlockDeviceMappings[0].Ebs == nil {
		t.Fatalf("DescribeImages %s = %+v, want one image with one EBS device", id, out.Images)
	}
	return aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
}

func TestSeedAndRegisterImageRecordSnapshots(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))

	seeded := srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-dev"})
	snap := snapshotOf(t, c, seeded)
	got, ok := srv.Snapshot("us-east-1", snap)
	want := "Created by CreateImage(i-" + strings.TrimPrefix(seeded, "ami-") + ") for " + seeded + " from vol-"
	if !ok || got.State != ec2local.SnapshotCompleted || got.VolumeSize != 8 || !strings.HasPrefix(got.Description, want) || got.OwnerID != ec2local.DefaultOwnerID {
		t.Errorf("Snapshot(%s) = %+v, %v; want completed, 8 GiB, described %q...", snap, got, ok, want)
	}

	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: aws.String("registered"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0"), VolumeSize: aws.Int32(20)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := srv.Snapshot("us-east-1", "snap-0123456789abcdef0"); !ok || got.VolumeSize != 20 {
		t.Errorf("registered snapshot = %+v, %v; want 20 GiB", got, ok)
	}
	if snaps := srv.Snapshots(""); len(snaps) != 2 {
		t.Errorf("Snapshots = %+v, want the seeded and the registered one", snaps)
	}
	// A second image of the same snapshot keeps it in use when the first is
	// deregistered.
	if _, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: aws.String("registered-again"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0")},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: reg.ImageId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String("snap-0123456789abcdef0")})
	wantCode(t, err, "InvalidSnapshot.InUse", http.StatusBadRequest)
}

func TestCopyImageMakesNewSnapshots(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	us, eu := client(hs, "us-east-1", static(testKey)), client(hs, "eu-west-1", static(testKey))
	src := srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-dev"})
	srcSnap := snapshotOf(t, us, src)

	out, err := eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String("golden-base-prod")})
	if err != nil {
		t.Fatal(err)
	}
	dst := aws.ToString(out.ImageId)
	snap := snapshotOf(t, eu, dst)
	if snap == srcSnap || !strings.HasPrefix(snap, "snap-") || len(snap) != len("snap-")+17 {
		t.Fatalf("copy's snapshot = %q, want a new snap- id with 17 hex digits (source's: %s)", snap, srcSnap)
	}

	desc, err := eu.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}, OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots = %+v, want one", desc.Snapshots)
	}
	s := desc.Snapshots[0]
	prefix := "Copied for DestinationAmi " + dst + " from SourceAmi " + src + " for SourceSnapshot " + srcSnap + ". Task created on "
	if aws.ToString(s.SnapshotId) != snap || s.State != types.SnapshotStateCompleted || aws.ToInt32(s.VolumeSize) != 8 ||
		aws.ToString(s.OwnerId) != ec2local.DefaultOwnerID || s.StartTime == nil || !strings.HasPrefix(aws.ToString(s.Description), prefix) {
		t.Errorf("snapshot = %+v (description %q), want completed, 8 GiB, owned by %s, described %q...",
			s, aws.ToString(s.Description), ec2local.DefaultOwnerID, prefix)
	}

	// The description finds the snapshots of a copy once the copy is gone.
	byDescription := &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters:  []types.Filter{{Name: aws.String("description"), Values: []string{"Copied for DestinationAmi " + dst + " *"}}},
	}
	if _, err := eu.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(dst)}); err != nil {
		t.Fatal(err)
	}
	if found, err := eu.DescribeSnapshots(ctx, byDescription); err != nil || len(found.Snapshots) != 1 || aws.ToString(found.Snapshots[0].SnapshotId) != snap {
		t.Errorf("DescribeSnapshots by description = %+v, %v; want %s", found, err, snap)
	}
	if found, err := eu.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"210987654321"}}); err != nil || len(found.Snapshots) != 0 {
		t.Errorf("DescribeSnapshots of another owner = %+v, %v; want none", found, err)
	}
	// Snapshots live in their region.
	_, err = us.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	wantCode(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
	if got := srv.Snapshots("us-east-1"); len(got) != 1 || got[0].ID != srcSnap {
		t.Errorf("us-east-1 snapshots = %+v, want only %s", got, srcSnap)
	}
}

func TestDeleteSnapshotInUse(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	c := client(hs, "us-east-1", static(testKey))
	id := srv.Seed("us-east-1", ec2local.Image{})
	snap := snapshotOf(t, c, id)

	_, err := c.DeleteSnapshot(context.Background(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
	wantCode(t, err, "InvalidSnapshot.InUse", http.StatusBadRequest)
	if want := "The snapshot " + snap + " is currently in use by " + id; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, ok := srv.Snapshot("us-east-1", snap); !ok {
		t.Error("the snapshot was deleted")
	}
}

func TestDeregisterThenDeleteSnapshot(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	id := srv.Seed("us-east-1", ec2local.Image{})
	snap := snapshotOf(t, c, id)

	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	// EC2 keeps the snapshots of a deregistered image.
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if err != nil || len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots after DeregisterImage = %+v, %v; want the snapshot", out, err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	wantCode(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
	if got := srv.Snapshots(""); len(got) != 0 {
		t.Errorf("Snapshots = %+v, want none", got)
	}
}

func TestSnapshotNotFound(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))

	_, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String("snap-0123456789abcdef0")})
	wantCode(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
	if !strings.Contains(err.Error(), "snap-0123456789abcdef0") {
		t.Errorf("error %q does not name the snapshot", err)
	}
	_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-0123456789abcdef0"}})
	wantCode(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String("ami-0123456789abcdef0")})
	wantCode(t, err, "InvalidSnapshotID.Malformed", http.StatusBadRequest)
	_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{Filters: []types.Filter{{Name: aws.String("no-such-filter"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidParameterValue", http.StatusBadRequest)
}
