package ec2local_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

const testKey = "AKIDEC2LOCALTEST"

// start serves srv over HTTP for the duration of the test.
func start(t *testing.T, srv *ec2local.Server) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs
}

// client returns a real SDK EC2 client for region that talks to hs.
func client(hs *httptest.Server, region string, creds aws.CredentialsProvider) *ec2.Client {
	return ec2.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  creds,
		BaseEndpoint: aws.String(hs.URL),
		HTTPClient:   hs.Client(),
	})
}

func static(key string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, "secret", "")
}

// apiCode returns the EC2 error code and HTTP status of err.
func apiCode(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return ae.ErrorCode(), re.HTTPStatusCode()
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := apiCode(t, err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("got %s (HTTP %d), want %s (HTTP %d): %v", gotCode, gotStatus, code, status, err)
	}
}

func TestRegisterAndDescribeImage(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))

	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name:           aws.String("golden-base-1"),
		Architecture:   types.ArchitectureValuesArm64,
		RootDeviceName: aws.String("/dev/xvda"),
		Description:    aws.String("the golden base"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0"), VolumeSize: aws.Int32(8), VolumeType: types.VolumeTypeGp3},
		}},
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeImage,
			Tags:         []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(reg.ImageId)
	if len(id) != len("ami-")+17 || !strings.HasPrefix(id, "ami-") {
		t.Fatalf("image id %q is not ami- and 17 hex digits", id)
	}

	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 {
		t.Fatalf("got %d images, want 1", len(out.Images))
	}
	img := out.Images[0]
	for _, c := range []struct{ name, got, want string }{
		{"id", aws.ToString(img.ImageId), id},
		{"name", aws.ToString(img.Name), "golden-base-1"},
		{"state", string(img.State), "available"},
		{"architecture", string(img.Architecture), "arm64"},
		{"description", aws.ToString(img.Description), "the golden base"},
		{"owner", aws.ToString(img.OwnerId), ec2local.DefaultOwnerID},
		{"root device", aws.ToString(img.RootDeviceName), "/dev/xvda"},
		{"snapshot", aws.ToString(img.BlockDeviceMappings[0].Ebs.SnapshotId), "snap-0123456789abcdef0"},
		{"tag team", tagValue(img.Tags, "team"), "platform"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate)); err != nil {
		t.Errorf("creation date: %v", err)
	}

	got, ok := srv.Image("us-east-1", id)
	if !ok || got.Name != "golden-base-1" || got.Region != "us-east-1" || got.Tags["team"] != "platform" {
		t.Errorf("Server.Image = %+v, %v", got, ok)
	}
	// Images live in the region that registered them.
	_, err = client(hs, "eu-west-1", static(testKey)).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
	if imgs := srv.Images("eu-west-1"); len(imgs) != 0 {
		t.Errorf("eu-west-1 holds %d images, want none", len(imgs))
	}
	// Names are unique within a region.
	_, err = c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("golden-base-1")})
	wantCode(t, err, "InvalidAMIName.Duplicate", http.StatusBadRequest)
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func TestDescribeImagesFilters(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	c := client(hs, "us-east-1", static(testKey))
	web := srv.Seed("us-east-1", ec2local.Image{Name: "web-prod-1", Tags: map[string]string{"team": "web", "env": "prod"}})
	db := srv.Seed("us-east-1", ec2local.Image{Name: "db-prod-1", Architecture: "arm64", Tags: map[string]string{"team": "data", "env": "prod"}})
	pending := srv.Seed("us-east-1", ec2local.Image{Name: "web-dev-2", State: "pending", Tags: map[string]string{"team": "web"}})
	srv.Seed("eu-west-1", ec2local.Image{Name: "web-prod-1", Tags: map[string]string{"team": "web"}})

	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	for _, tc := range []struct {
		name    string
		filters []types.Filter
		ids     []string
		want    []string
	}{
		{"all", nil, nil, []string{web, db, pending}},
		{"name", []types.Filter{f("name", "web-prod-1")}, nil, []string{web}},
		{"name wildcard", []types.Filter{f("name", "web-*")}, nil, []string{web, pending}},
		{"name single-character wildcard", []types.Filter{f("name", "??-prod-?")}, nil, []string{db}},
		{"tag", []types.Filter{f("tag:team", "web")}, nil, []string{web, pending}},
		{"values are ORed", []types.Filter{f("tag:team", "web", "data")}, nil, []string{web, db, pending}},
		{"filters are ANDed", []types.Filter{f("tag:team", "web"), f("tag:env", "prod")}, nil, []string{web}},
		{"state", []types.Filter{f("state", "pending")}, nil, []string{pending}},
		{"image-id", []types.Filter{f("image-id", db)}, nil, []string{db}},
		{"architecture", []types.Filter{f("architecture", "arm64")}, nil, []string{db}},
		{"tag-key", []types.Filter{f("tag-key", "env")}, nil, []string{web, db}},
		{"missing tag", []types.Filter{f("tag:nope", "*")}, nil, nil},
		{"ids and filters", []types.Filter{f("state", "available")}, []string{web, pending}, []string{web}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: tc.filters, ImageIds: tc.ids, Owners: []string{"self"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, img := range out.Images {
				got = append(got, aws.ToString(img.ImageId))
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestDescribeImagesErrors(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	c := client(hs, "us-east-1", static(testKey))
	ctx := context.Background()
	known := srv.Seed("us-east-1", ec2local.Image{})

	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{known, "ami-0123456789abcdef0"}})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
	if !strings.Contains(err.Error(), "ami-0123456789abcdef0") || strings.Contains(err.Error(), known) {
		t.Errorf("NotFound should name the missing id only: %v", err)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"golden-base"}})
	wantCode(t, err, "InvalidAMIID.Malformed", http.StatusBadRequest)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"blue"}}}})
	wantCode(t, err, "InvalidParameterValue", http.StatusBadRequest)
}

func TestCopyImage(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	src := srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-dev", Architecture: "arm64", Description: "dev build", Tags: map[string]string{"team": "platform"}})
	eu := client(hs, "eu-west-1", static(testKey))

	out, err := eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String("golden-base-prod")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ImageId)
	img, ok := srv.Image("eu-west-1", id)
	if !ok {
		t.Fatalf("copy %s is not in eu-west-1: %+v", id, srv.Images(""))
	}
	if img.SourceImageID != src || img.SourceRegion != "us-east-1" || img.Architecture != "arm64" || img.Description != "dev build" || img.State != "available" {
		t.Errorf("copy = %+v", img)
	}
	if len(img.Tags) != 0 {
		t.Errorf("tags were copied without CopyImageTags: %v", img.Tags)
	}
	if _, ok := srv.Image("us-east-1", id); ok {
		t.Error("the copy landed in the source region")
	}

	// CopyImageTags and TagSpecifications.
	out, err = eu.CopyImage(ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String("golden-base-staging"),
		CopyImageTags:     aws.Bool(true),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("staging")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, _ = srv.Image("eu-west-1", aws.ToString(out.ImageId))
	if img.Tags["team"] != "platform" || img.Tags["env"] != "staging" {
		t.Errorf("tags = %v, want team=platform env=staging", img.Tags)
	}

	// The source must exist in SourceRegion.
	_, err = eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-west-2"), Name: aws.String("elsewhere")})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
	_, err = eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String("golden-base-prod")})
	wantCode(t, err, "InvalidAMIName.Duplicate", http.StatusBadRequest)
}

func TestCopyImageClientToken(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	src := srv.Seed("us-east-1", ec2local.Image{})
	c := client(hs, "us-west-2", static(testKey))
	in := func(name string) *ec2.CopyImageInput {
		return &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String(name), ClientToken: aws.String("token-1")}
	}
	first, err := c.CopyImage(ctx, in("copy-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CopyImage(ctx, in("copy-1"))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.ImageId) != aws.ToString(again.ImageId) {
		t.Errorf("a retried CopyImage made a second image: %s, %s", aws.ToString(first.ImageId), aws.ToString(again.ImageId))
	}
	if n := len(srv.Images("us-west-2")); n != 1 {
		t.Errorf("us-west-2 holds %d images, want 1", n)
	}
	_, err = c.CopyImage(ctx, in("copy-2"))
	wantCode(t, err, "IdempotentParameterMismatch", http.StatusBadRequest)
}

func TestCopyImagePendingThenAvailable(t *testing.T) {
	srv := ec2local.New(ec2local.WithCopyPending(2))
	hs := start(t, srv)
	ctx := context.Background()
	src := srv.Seed("us-east-1", ec2local.Image{})
	c := client(hs, "eu-central-1", static(testKey))
	out, err := c.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"), Name: aws.String("pending-copy")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ImageId)
	if img, _ := srv.Image("eu-central-1", id); img.State != "pending" {
		t.Fatalf("state = %q, want pending", img.State)
	}
	w := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if img, _ := srv.Image("eu-central-1", id); img.State != "available" {
		t.Fatalf("state = %q, want available", img.State)
	}
	if n := count(srv.Calls(), "DescribeImages"); n != 3 {
		t.Errorf("the waiter polled %d times, want 3 (pending, pending, available)", n)
	}
}

func count(calls []ec2local.Call, action string) int {
	n := 0
	for _, c := range calls {
		if c.Action == action {
			n++
		}
	}
	return n
}

func TestLaunchPermissions(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	id := srv.Seed("us-east-1", ec2local.Image{})

	users := func() []string {
		t.Helper()
		out, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range out.LaunchPermissions {
			if p.Group != "" {
				got = append(got, "group:"+string(p.Group))
			} else {
				got = append(got, aws.ToString(p.UserId))
			}
		}
		return got
	}
	if got := users(); len(got) != 0 {
		t.Fatalf("a new image is shared with %v", got)
	}
	// The structured form.
	_, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId:          aws.String(id),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String("111111111111")}, {UserId: aws.String("222222222222")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := users(); !slices.Equal(got, []string{"111111111111", "222222222222"}) {
		t.Fatalf("launch permissions = %v", got)
	}
	// The flat form, Attribute=launchPermission&OperationType=remove&UserId.N.
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(id), Attribute: aws.String("launchPermission"), OperationType: types.OperationTypeRemove, UserIds: []string{"111111111111"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(id), LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := users(); !slices.Equal(got, []string{"222222222222", "group:all"}) {
		t.Fatalf("launch permissions = %v", got)
	}
	if img, _ := srv.Image("us-east-1", id); !img.Public || !slices.Equal(img.LaunchPermissions, []string{"222222222222"}) {
		t.Errorf("Server.Image = %+v", img)
	}

	// Errors.
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(id), LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String("not-an-account")}}},
	})
	wantCode(t, err, "InvalidAMIAttributeItemValue", http.StatusBadRequest)
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String("ami-0123456789abcdef0"), LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String("111111111111")}}},
	})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)

	// The description attribute.
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), Description: &types.AttributeValue{Value: aws.String("promoted")}})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameDescription})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(desc.Description.Value); got != "promoted" {
		t.Errorf("description = %q", got)
	}
}

func TestCreateTags(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	a := srv.Seed("us-east-1", ec2local.Image{Tags: map[string]string{"env": "dev"}})
	b := srv.Seed("us-east-1", ec2local.Image{})

	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{a, b},
		Tags:      []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("Name"), Value: aws.String("golden")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		img, _ := srv.Image("us-east-1", id)
		if img.Tags["env"] != "prod" || img.Tags["Name"] != "golden" {
			t.Errorf("%s tags = %v", id, img.Tags)
		}
	}
	// One unknown resource: nothing is tagged.
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{a, "ami-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
	if img, _ := srv.Image("us-east-1", a); img.Tags["x"] != "" {
		t.Error("a failed CreateTags tagged an image")
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{a}, Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("me")}}})
	wantCode(t, err, "InvalidParameterValue", http.StatusBadRequest)
}

func TestDeregisterImage(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	id := srv.Seed("us-east-1", ec2local.Image{})
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Image("us-east-1", id); ok {
		t.Error("the image is still there")
	}
	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
	wantCode(t, err, "InvalidAMIID.NotFound", http.StatusBadRequest)
}

func TestAuthFailure(t *testing.T) {
	srv := ec2local.New(ec2local.WithAccessKeys(testKey))
	hs := start(t, srv)
	ctx := context.Background()
	id := srv.Seed("us-east-1", ec2local.Image{})

	// Anonymous credentials: the SDK does not sign the request.
	_, err := client(hs, "us-east-1", aws.AnonymousCredentials{}).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	wantCode(t, err, "AuthFailure", http.StatusUnauthorized)
	// A key the server does not accept.
	_, err = client(hs, "us-east-1", static("AKIDSTRANGER")).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, err, "AuthFailure", http.StatusUnauthorized)
	if img, _ := srv.Image("us-east-1", id); len(img.Tags) != 0 {
		t.Error("an unauthenticated request changed an image")
	}
	if _, err := client(hs, "us-east-1", static(testKey)).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}); err != nil {
		t.Fatalf("accepted key: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 3 || calls[0].Code != "AuthFailure" || calls[1].Code != "AuthFailure" || calls[2].Code != "" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestCallsRecordRegion(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	for _, region := range []string{"us-east-1", "ap-southeast-2"} {
		if _, err := client(hs, region, static(testKey)).DescribeImages(ctx, &ec2.DescribeImagesInput{}); err != nil {
			t.Fatal(err)
		}
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Region != "us-east-1" || calls[1].Region != "ap-southeast-2" ||
		calls[0].Action != "DescribeImages" || calls[0].AccessKeyID != testKey || calls[0].Params.Get("Version") != "2016-11-15" {
		t.Errorf("calls = %+v", calls)
	}
	srv.ResetCalls()
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
}

func TestDryRunAndFailNext(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	ctx := context.Background()
	c := client(hs, "us-east-1", static(testKey))
	_, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("dry"), DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation", http.StatusPreconditionFailed)
	if n := len(srv.Images("")); n != 0 {
		t.Fatalf("a dry run registered %d images", n)
	}

	id := srv.Seed("us-east-1", ec2local.Image{})
	srv.FailNext("CreateTags", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	tagIt := func() error {
		_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		return err
	}
	wantCode(t, tagIt(), "UnauthorizedOperation", http.StatusForbidden)
	if err := tagIt(); err != nil {
		t.Fatalf("the failure applied twice: %v", err)
	}
}

// TestWireFormat checks what the SDK does not show: the error document and
// the answer to an unknown action or an unsigned request.
func TestWireFormat(t *testing.T) {
	hs := start(t, ec2local.New())
	post := func(auth string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	auth := fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00", testKey)

	status, body := post(auth, url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}})
	if status != http.StatusBadRequest || !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	var doc struct {
		XMLName   xml.Name `xml:"Response"`
		Code      string   `xml:"Errors>Error>Code"`
		Message   string   `xml:"Errors>Error>Message"`
		RequestID string   `xml:"RequestID"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Code != "InvalidAction" || doc.Message == "" || doc.RequestID == "" {
		t.Errorf("error document = %+v", doc)
	}

	status, body = post("", url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "<Code>AuthFailure</Code>") {
		t.Errorf("unsigned request: HTTP %d: %s", status, body)
	}

	status, body = post(auth, url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}})
	if status != http.StatusOK || !strings.Contains(body, `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`) {
		t.Errorf("DescribeImages: HTTP %d: %s", status, body)
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := ec2local.New()
	hs := start(t, srv)
	c := client(hs, "us-east-1", static(testKey))
	var wg sync.WaitGroup
	ids := make([]string, 16)
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(fmt.Sprintf("image-%02d", i))})
			if err == nil {
				ids[i] = aws.ToString(out.ImageId)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 16 || len(srv.Images("us-east-1")) != 16 {
		t.Errorf("ids are not unique: %v", ids)
	}
}
