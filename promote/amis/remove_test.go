package amis_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

// promoted publishes golden-base to prod in us-east-1 (copied from the
// source there) and eu-west-1, and returns the source and the copies.
func promoted(t *testing.T, srv *ec2local.Server, p *amis.EC2) (string, map[string]string) {
	t.Helper()
	src := srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-dev"})
	res, err := p.Publish(context.Background(), amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source: map[string]string{"us-east-1": src}, Regions: []string{"us-east-1", "eu-west-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return src, res.AMIs
}

// copySnapshots returns the snapshots CopyImage made for the copy id.
func copySnapshots(srv *ec2local.Server, region, id string) []string {
	var out []string
	for _, s := range srv.Snapshots(region) {
		if strings.HasPrefix(s.Description, "Copied for DestinationAmi "+id+" ") {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestRemove(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	ctx := context.Background()
	p := publisher(t, amis.Options{})
	src, copies := promoted(t, srv, p)
	// A withdrawn (deprecated and disabled) copy is removed like any other.
	if err := p.Withdraw(ctx, map[string]string{"eu-west-1": copies["eu-west-1"]}, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	var want []amis.Removed
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		snaps := copySnapshots(srv, region, copies[region])
		if len(snaps) != 1 {
			t.Fatalf("%s: copy %s has snapshots %v, want one", region, copies[region], snaps)
		}
		want = append(want, amis.Removed{Region: region, AMI: copies[region], Snapshots: snaps})
	}

	got, err := p.Remove(ctx, copies)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Remove = %+v, want %+v", got, want)
	}
	for region, id := range copies {
		if _, ok := srv.Image(region, id); ok {
			t.Errorf("%s: %s is still registered", region, id)
		}
	}
	// The source, and its snapshot, are not the environment's: they stay.
	left := srv.Snapshots("")
	if _, ok := srv.Image("us-east-1", src); !ok || len(left) != 1 || left[0].ID != "snap-"+strings.TrimPrefix(src, "ami-") {
		t.Errorf("left: source there %v, snapshots %+v; want the source and its snapshot only", ok, left)
	}
}

func TestRemoveAgainIsNoOp(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	ctx := context.Background()
	p := publisher(t, amis.Options{})
	_, copies := promoted(t, srv, p)
	if _, err := p.Remove(ctx, copies); err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()

	got, err := p.Remove(ctx, copies)
	if err != nil || len(got) != 0 {
		t.Fatalf("Remove again = %+v, %v; want nothing removed", got, err)
	}
	calls := srv.Calls()
	if n, m := count(calls, "DeregisterImage"), count(calls, "DeleteSnapshot"); n != 0 || m != 0 {
		t.Errorf("Remove again sent %d DeregisterImage and %d DeleteSnapshot, want none", n, m)
	}
}

// TestRemoveConverges interrupts a removal after the AMI is deregistered
// and before its snapshot is deleted: the next run finds the snapshot by
// its description and deletes it.
func TestRemoveConverges(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	ctx := context.Background()
	p := publisher(t, amis.Options{})
	_, copies := promoted(t, srv, p)
	snaps := map[string][]string{}
	for region, id := range copies {
		snaps[region] = copySnapshots(srv, region, id)
	}

	srv.FailNext("DeleteSnapshot", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	got, err := p.Remove(ctx, copies)
	if err == nil {
		t.Fatal("Remove succeeded, want the injected failure")
	}
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), copies["eu-west-1"]) {
		t.Errorf("error %v (class %v), want a configuration failure naming %s", err, failure.ClassOf(err), copies["eu-west-1"])
	}
	// eu-west-1 comes first: its AMI is gone, its snapshot is left, and
	// us-east-1 was not touched.
	if want := []amis.Removed{{Region: "eu-west-1", AMI: copies["eu-west-1"]}}; !reflect.DeepEqual(got, want) {
		t.Errorf("interrupted Remove = %+v, want %+v", got, want)
	}
	if _, ok := srv.Image("eu-west-1", copies["eu-west-1"]); ok {
		t.Fatal("the AMI in eu-west-1 is still registered")
	}
	if _, ok := srv.Snapshot("eu-west-1", snaps["eu-west-1"][0]); !ok {
		t.Fatal("the snapshot in eu-west-1 is gone")
	}
	if _, ok := srv.Image("us-east-1", copies["us-east-1"]); !ok {
		t.Fatal("the AMI in us-east-1 was removed")
	}

	got, err = p.Remove(ctx, copies)
	if err != nil {
		t.Fatal(err)
	}
	want := []amis.Removed{
		{Region: "eu-west-1", AMI: copies["eu-west-1"], Snapshots: snaps["eu-west-1"]},
		{Region: "us-east-1", AMI: copies["us-east-1"], Snapshots: snaps["us-east-1"]},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Remove after the interruption = %+v, want %+v", got, want)
	}
	for region, ids := range snaps {
		if _, ok := srv.Snapshot(region, ids[0]); ok {
			t.Errorf("%s: snapshot %s is left", region, ids[0])
		}
	}
}

// TestRemoveSnapshotInUse refuses to delete a snapshot that another AMI
// still uses, and says so.
func TestRemoveSnapshotInUse(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	ctx := context.Background()
	p := publisher(t, amis.Options{})
	id := srv.Seed("us-east-1", ec2local.Image{})
	snap := "snap-" + strings.TrimPrefix(id, "ami-")
	// A second AMI made of the same snapshot.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ec2.NewFromConfig(cfg).RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: aws.String("other"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}

	got, err := p.Remove(ctx, map[string]string{"us-east-1": id})
	if err == nil || !strings.Contains(err.Error(), "InvalidSnapshot.InUse") {
		t.Fatalf("Remove = %v, want InvalidSnapshot.InUse", err)
	}
	if want := []amis.Removed{{Region: "us-east-1", AMI: id}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Remove = %+v, want %+v", got, want)
	}
	if _, ok := srv.Snapshot("us-east-1", snap); !ok {
		t.Error("the snapshot in use was deleted")
	}
}
