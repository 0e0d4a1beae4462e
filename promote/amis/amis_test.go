package amis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

var testDigest = func() string {
	sum := sha256.Sum256([]byte("golden-base"))
	return "sha256:" + hex.EncodeToString(sum[:])
}()

// isolate keeps the developer's or CI's AWS settings out of the test: no
// AWS_* variable, no config or credentials file, no instance metadata.
func isolate(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restores the variable after the test
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// serve starts srv and points the SDK at it through the environment, as
// the demo does, with static credentials.
func serve(t *testing.T, srv *ec2local.Server) *httptest.Server {
	t.Helper()
	isolate(t)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Setenv("AWS_ENDPOINT_URL_EC2", hs.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBAKERYTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	return hs
}

func publisher(t *testing.T, opts amis.Options) *amis.EC2 {
	t.Helper()
	if opts.MinDelay == 0 {
		opts.MinDelay, opts.MaxDelay, opts.MaxWait = time.Millisecond, 5*time.Millisecond, 10*time.Second
	}
	p, err := amis.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mutating returns the calls that change something.
func mutating(calls []ec2local.Call) []string {
	var out []string
	for _, c := range calls {
		switch c.Action {
		case "CopyImage", "CreateTags", "ModifyImageAttribute", "RegisterImage", "DeregisterImage":
			out = append(out, c.Region+" "+c.Action)
		}
	}
	return out
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

func TestPublish(t *testing.T) {
	srv := ec2local.New(ec2local.WithCopyPending(2))
	serve(t, srv)
	east := srv.Seed("us-east-1", ec2local.Image{Name: "golden-base-dev-us", Architecture: "arm64"})
	west := srv.Seed("eu-west-1", ec2local.Image{Name: "golden-base-dev-eu", Architecture: "arm64"})

	res, err := publisher(t, amis.Options{}).Publish(context.Background(), amis.Request{
		Digest:      testDigest,
		Environment: "prod",
		Target:      "golden-base",
		Source:      map[string]string{"us-east-1": east, "eu-west-1": west},
		Regions:     []string{"us-west-2", "us-east-1"},
		Accounts:    []string{"222222222222", "111111111111", "222222222222"},
		Tags:        map[string]string{"cost-center": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.AMIs) != 2 {
		t.Fatalf("result = %v, want two regions", res.AMIs)
	}
	name := "golden-base-prod-" + strings.TrimPrefix(testDigest, "sha256:")[:12]
	for region, src := range map[string][2]string{
		"us-east-1": {"us-east-1", east}, // copied within the region that has a source
		"us-west-2": {"eu-west-1", west}, // copied from the first source region in sorted order
	} {
		img, ok := srv.Image(region, res.AMIs[region])
		if !ok {
			t.Fatalf("%s: %s is not there", region, res.AMIs[region])
		}
		if img.ID == src[1] || img.SourceRegion != src[0] || img.SourceImageID != src[1] {
			t.Errorf("%s: copied from %s in %s, want %s in %s", region, img.SourceImageID, img.SourceRegion, src[1], src[0])
		}
		if img.State != "available" || img.Name != name || img.Architecture != "arm64" {
			t.Errorf("%s: %+v", region, img)
		}
		want := map[string]string{
			"bakery.digest": testDigest, "bakery.environment": "prod", "bakery.target": "golden-base",
			"Name": name, "cost-center": "42",
		}
		for k, v := range want {
			if img.Tags[k] != v {
				t.Errorf("%s: tag %s = %q, want %q", region, k, img.Tags[k], v)
			}
		}
		if !slices.Equal(img.LaunchPermissions, []string{"111111111111", "222222222222"}) {
			t.Errorf("%s: shared with %v", region, img.LaunchPermissions)
		}
	}
	for _, src := range []struct{ region, id string }{{"us-east-1", east}, {"eu-west-1", west}} {
		if img, _ := srv.Image(src.region, src.id); len(img.Tags) != 0 || len(img.LaunchPermissions) != 0 {
			t.Errorf("the source %s was changed: %+v", src.id, img)
		}
	}
	// Regions go in sorted order, each copied, then shared once it is available.
	if got, want := mutating(srv.Calls()), []string{
		"us-east-1 CopyImage", "us-east-1 ModifyImageAttribute", "us-west-2 CopyImage", "us-west-2 ModifyImageAttribute",
	}; !slices.Equal(got, want) {
		t.Errorf("mutating calls = %v, want %v", got, want)
	}
	for _, c := range srv.Calls() {
		if c.Action == "CopyImage" && len(c.Params.Get("ClientToken")) != 64 {
			t.Errorf("CopyImage in %s has client token %q", c.Region, c.Params.Get("ClientToken"))
		}
	}
}

func TestPublishRerunReusesCopies(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	req := amis.Request{
		Digest: testDigest, Environment: "staging", Target: "golden-base",
		Source:   map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{}), "eu-west-1": srv.Seed("eu-west-1", ec2local.Image{})},
		Accounts: []string{"111111111111"},
	}
	p := publisher(t, amis.Options{})
	first, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.AMIs) != 2 || first.AMIs["us-east-1"] == "" || first.AMIs["eu-west-1"] == "" {
		t.Fatalf("no regions means the source's regions: %v", first.AMIs)
	}
	srv.ResetCalls()
	again, err := p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedValues(first.AMIs), sortedValues(again.AMIs)) {
		t.Errorf("the re-run returned %v, the first run %v", again.AMIs, first.AMIs)
	}
	if m := mutating(srv.Calls()); len(m) != 0 {
		t.Errorf("the re-run changed things: %v", m)
	}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		if n := len(srv.Images(region)); n != 2 {
			t.Errorf("%s holds %d images, want the source and one copy", region, n)
		}
	}

	// A re-run that asks for more tags and accounts adds just those.
	srv.ResetCalls()
	req.Tags = map[string]string{"owner": "platform"}
	req.Accounts = append(req.Accounts, "333333333333")
	if _, err := p.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got, want := mutating(srv.Calls()), []string{
		"eu-west-1 CreateTags", "eu-west-1 ModifyImageAttribute", "us-east-1 CreateTags", "us-east-1 ModifyImageAttribute",
	}; !slices.Equal(got, want) {
		t.Errorf("mutating calls = %v, want %v", got, want)
	}
	for _, c := range srv.Calls() {
		if c.Action == "CreateTags" && (c.Params.Get("Tag.1.Key") != "owner" || c.Params.Has("Tag.2.Key")) {
			t.Errorf("CreateTags set more than the new tag: %v", c.Params)
		}
		if c.Action == "ModifyImageAttribute" && (c.Params.Get("LaunchPermission.Add.1.UserId") != "333333333333" || c.Params.Has("LaunchPermission.Add.2.UserId")) {
			t.Errorf("ModifyImageAttribute added more than the new account: %v", c.Params)
		}
	}
	for region, id := range first.AMIs {
		img, _ := srv.Image(region, id)
		if img.Tags["owner"] != "platform" || !slices.Equal(img.LaunchPermissions, []string{"111111111111", "333333333333"}) {
			t.Errorf("%s: %+v", region, img)
		}
	}
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// TestPublishResumesAfterFailure: a run that fails half-way is finished by
// the next one, which makes no second copy.
func TestPublishResumesAfterFailure(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	req := amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source:   map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{})},
		Regions:  []string{"us-east-1", "us-west-2"},
		Accounts: []string{"111111111111"},
	}
	srv.FailNext("ModifyImageAttribute", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	p := publisher(t, amis.Options{})
	res, err := p.Publish(context.Background(), req)
	if err == nil {
		t.Fatal("the first run succeeded")
	}
	if c := failure.ClassOf(err); c != failure.Config {
		t.Errorf("class = %v, want config: %v", c, err)
	}
	if len(res.AMIs) != 0 {
		t.Errorf("partial result = %v, want none", res.AMIs)
	}
	res, err = p.Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(srv.Calls(), "CopyImage"); n != 2 {
		t.Errorf("%d CopyImage calls over both runs, want 2 (one per region)", n)
	}
	for region, id := range res.AMIs {
		if img, _ := srv.Image(region, id); !slices.Equal(img.LaunchPermissions, []string{"111111111111"}) {
			t.Errorf("%s: shared with %v", region, img.LaunchPermissions)
		}
	}
}

// TestPublishResumesPendingCopy: a run whose wait ran out leaves a tagged,
// pending copy; the next run waits for that copy instead of making another.
func TestPublishResumesPendingCopy(t *testing.T) {
	srv := ec2local.New(ec2local.WithCopyPending(20))
	serve(t, srv)
	req := amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source:  map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{})},
		Regions: []string{"ca-central-1"},
	}
	impatient := publisher(t, amis.Options{MinDelay: 5 * time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond})
	// The wait runs out either between two polls ("exceeded max wait") or
	// during one (the poll's context deadline), depending on the machine's load.
	if _, err := impatient.Publish(context.Background(), req); err == nil || !strings.Contains(err.Error(), "to become available") {
		t.Fatalf("got %v, want the wait to run out", err)
	}
	res, err := publisher(t, amis.Options{}).Publish(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(srv.Calls(), "CopyImage"); n != 1 {
		t.Errorf("%d CopyImage calls, want 1", n)
	}
	if img, _ := srv.Image("ca-central-1", res.AMIs["ca-central-1"]); img.State != "available" {
		t.Errorf("state = %q", img.State)
	}
}

func TestPublishNoCredentials(t *testing.T) {
	isolate(t)
	srv := ec2local.New()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	t.Setenv("AWS_ENDPOINT_URL_EC2", hs.URL)
	src := srv.Seed("us-east-1", ec2local.Image{})

	_, err := publisher(t, amis.Options{}).Publish(context.Background(), amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source: map[string]string{"us-east-1": src}, Accounts: []string{"111111111111"},
	})
	if !errors.Is(err, amis.ErrNoCredentials) {
		t.Fatalf("got %v, want ErrNoCredentials", err)
	}
	if !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "AWS_PROFILE") {
		t.Errorf("the error does not say what to set: %v", err)
	}
	if c := failure.ClassOf(err); c != failure.Config {
		t.Errorf("class = %v, want config", c)
	}
	if calls := srv.Calls(); len(calls) != 0 {
		t.Errorf("requests were sent without credentials: %+v", calls)
	}
}

func TestPublishMissingSource(t *testing.T) {
	for _, tc := range []struct{ name, id string }{
		{"unknown", "ami-0123456789abcdef0"},
		{"malformed", "golden-base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ec2local.New()
			serve(t, srv)
			_, err := publisher(t, amis.Options{}).Publish(context.Background(), amis.Request{
				Digest: testDigest, Environment: "prod", Target: "golden-base",
				Source:   map[string]string{"eu-west-1": srv.Seed("eu-west-1", ec2local.Image{}), "us-east-1": tc.id},
				Accounts: []string{"111111111111"},
			})
			var nf *amis.NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("got %v, want a NotFoundError", err)
			}
			if nf.Region != "us-east-1" || nf.ID != tc.id {
				t.Errorf("NotFoundError = %+v", nf)
			}
			if m := mutating(srv.Calls()); len(m) != 0 {
				t.Errorf("mutating calls before the sources were checked: %v", m)
			}
		})
	}
}

// TestCheck: Check runs Publish's preflight and changes nothing.
func TestCheck(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	p := publisher(t, amis.Options{})
	req := amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source:   map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{})},
		Regions:  []string{"us-east-1", "eu-west-1"},
		Accounts: []string{"111111111111"},
	}
	if err := p.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Source["eu-west-1"] = "ami-0123456789abcdef0"
	var nf *amis.NotFoundError
	if err := p.Check(context.Background(), req); !errors.As(err, &nf) || nf.Region != "eu-west-1" {
		t.Fatalf("got %v, want a NotFoundError for eu-west-1", err)
	}
	if n := count(srv.Calls(), "DescribeImages"); n != 2 || len(srv.Calls()) != 2 {
		t.Errorf("calls = %+v, want two DescribeImages (the second Check stops at eu-west-1, the first region in order)", srv.Calls())
	}
	if n := len(srv.Images("")); n != 1 {
		t.Errorf("the server holds %d images, want the one source", n)
	}
}

func TestPublishSourceNotAvailable(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	src := srv.Seed("us-east-1", ec2local.Image{State: "pending"})
	_, err := publisher(t, amis.Options{}).Publish(context.Background(), amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base", Source: map[string]string{"us-east-1": src},
	})
	var se *amis.StateError
	if !errors.As(err, &se) || se.State != "pending" || se.ID != src {
		t.Fatalf("got %v, want a StateError for %s", err, src)
	}
	if m := mutating(srv.Calls()); len(m) != 0 {
		t.Errorf("mutating calls: %v", m)
	}
}

// TestPublishEndpoints: the endpoint comes from Options.Endpoint or from the
// SDK's standard resolution of AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL.
func TestPublishEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(t *testing.T, url string, opts *amis.Options)
	}{
		{"Options.Endpoint", func(t *testing.T, url string, opts *amis.Options) { opts.Endpoint = url }},
		{"AWS_ENDPOINT_URL_EC2", func(t *testing.T, url string, _ *amis.Options) { t.Setenv("AWS_ENDPOINT_URL_EC2", url) }},
		{"AWS_ENDPOINT_URL", func(t *testing.T, url string, _ *amis.Options) { t.Setenv("AWS_ENDPOINT_URL", url) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ec2local.New()
			hs := serve(t, srv)
			os.Unsetenv("AWS_ENDPOINT_URL_EC2")
			opts := amis.Options{HTTPClient: hs.Client()}
			tc.set(t, hs.URL, &opts)
			res, err := publisher(t, opts).Publish(context.Background(), amis.Request{
				Digest: testDigest, Environment: "prod", Target: "golden-base",
				Source: map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{})},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := srv.Image("us-east-1", res.AMIs["us-east-1"]); !ok {
				t.Errorf("result %v is not on the server", res.AMIs)
			}
		})
	}
}

// TestPublishProfile: credentials come from the default chain, here a
// profile of the shared config file.
func TestPublishProfile(t *testing.T) {
	srv := ec2local.New(ec2local.WithAccessKeys("AKIDPROFILE"))
	serve(t, srv)
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	cfg := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfg, []byte("[profile bakery]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfg)
	_, err := publisher(t, amis.Options{Profile: "bakery"}).Publish(context.Background(), amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base",
		Source: map[string]string{"us-east-1": srv.Seed("us-east-1", ec2local.Image{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := amis.New(context.Background(), amis.Options{Profile: "nope"}); failure.ClassOf(err) != failure.Config {
		t.Errorf("an unknown profile: got %v, want a config error", err)
	}
}

func TestPublishInvalidRequest(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	src := srv.Seed("us-east-1", ec2local.Image{})
	valid := func() amis.Request {
		return amis.Request{Digest: testDigest, Environment: "prod", Target: "golden-base", Source: map[string]string{"us-east-1": src}}
	}
	for name, change := range map[string]func(*amis.Request){
		"bad digest":       func(r *amis.Request) { r.Digest = "sha256:abc" },
		"no environment":   func(r *amis.Request) { r.Environment = "" },
		"no source":        func(r *amis.Request) { r.Source = nil },
		"bad account":      func(r *amis.Request) { r.Accounts = []string{"prod-account"} },
		"reserved tag":     func(r *amis.Request) { r.Tags = map[string]string{"bakery.digest": "x"} },
		"aws tag":          func(r *amis.Request) { r.Tags = map[string]string{"aws:owner": "x"} },
		"bad AMI name":     func(r *amis.Request) { r.Target = "golden:base" },
		"empty region":     func(r *amis.Request) { r.Regions = []string{""} },
		"empty source AMI": func(r *amis.Request) { r.Source = map[string]string{"us-east-1": ""} },
	} {
		t.Run(name, func(t *testing.T) {
			req := valid()
			change(&req)
			_, err := publisher(t, amis.Options{}).Publish(context.Background(), req)
			if failure.ClassOf(err) != failure.Config {
				t.Fatalf("got %v, want a config error", err)
			}
		})
	}
	if calls := srv.Calls(); len(calls) != 0 {
		t.Errorf("invalid requests sent %d requests", len(calls))
	}
}

func TestPublishUnavailable(t *testing.T) {
	srv := ec2local.New()
	hs := serve(t, srv)
	src := srv.Seed("us-east-1", ec2local.Image{})
	hs.Close() // nothing listens there any more
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	_, err := publisher(t, amis.Options{}).Publish(context.Background(), amis.Request{
		Digest: testDigest, Environment: "prod", Target: "golden-base", Source: map[string]string{"us-east-1": src},
	})
	if failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("got %v (class %v), want unavailable", err, failure.ClassOf(err))
	}
}

// TestWithdrawAndReinstate: a revoked digest's AMIs are deprecated and
// disabled (DescribeImages no longer lists them, as EC2 does), and
// reinstating enables them and cancels the deprecation; both run twice.
func TestWithdrawAndReinstate(t *testing.T) {
	srv := ec2local.New()
	serve(t, srv)
	ctx := context.Background()
	east := srv.Seed("us-east-1", ec2local.Image{Name: "golden-ami-prod-us", Architecture: "x86_64"})
	west := srv.Seed("eu-west-1", ec2local.Image{Name: "golden-ami-prod-eu", Architecture: "x86_64"})
	published := map[string]string{"us-east-1": east, "eu-west-1": west}
	p := publisher(t, amis.Options{})
	at := time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)
	for range 2 {
		if err := p.Withdraw(ctx, published, at, true); err != nil {
			t.Fatal(err)
		}
	}
	for region, id := range published {
		img, _ := srv.Image(region, id)
		if img.State != ec2local.StateDisabled || !img.DeprecationTime.Equal(at.Truncate(time.Minute).Add(time.Minute)) {
			t.Errorf("%s after Withdraw: state %s, deprecation %s", region, img.State, img.DeprecationTime)
		}
	}
	if n := len(listed(t, "us-east-1")); n != 0 {
		t.Errorf("DescribeImages lists %d images after Withdraw, want the disabled one hidden", n)
	}
	for range 2 {
		if err := p.Reinstate(ctx, published); err != nil {
			t.Fatal(err)
		}
	}
	for region, id := range published {
		img, _ := srv.Image(region, id)
		if img.State != ec2local.StateAvailable || !img.DeprecationTime.IsZero() {
			t.Errorf("%s after Reinstate: state %s, deprecation %s", region, img.State, img.DeprecationTime)
		}
	}
	if n := len(listed(t, "us-east-1")); n != 1 {
		t.Errorf("DescribeImages lists %d images after Reinstate, want 1", n)
	}
	if err := p.Withdraw(ctx, map[string]string{"us-east-1": "ami-0000000000000000f"}, at, true); err != nil {
		t.Errorf("withdraw of an AMI that is gone: %v, want nothing to do", err)
	}
	if err := p.Reinstate(ctx, map[string]string{"us-east-1": "ami-0000000000000000f"}); err == nil {
		t.Error("reinstating an AMI that is gone succeeded")
	}
}

// listed is what the SDK's DescribeImages answers in region.
func listed(t *testing.T, region string) []string {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ec2.NewFromConfig(cfg).DescribeImages(context.Background(), &ec2.DescribeImagesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range out.Images {
		ids = append(ids, *img.ImageId)
	}
	return ids
}
