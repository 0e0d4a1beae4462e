package amis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Default waiter settings: copies across regions take minutes to tens of
// minutes, depending on the size of the snapshots.
const (
	DefaultMinDelay = 15 * time.Second
	DefaultMaxDelay = 2 * time.Minute
	DefaultMaxWait  = 60 * time.Minute
)

// Options configures the EC2 publisher.
type Options struct {
	// Profile is the shared config profile to use; empty means AWS_PROFILE,
	// or the default profile.
	Profile string
	// Endpoint, when set, is the EC2 endpoint of every region (for example
	// promote/amis/ec2local's URL). Empty means the standard resolution, which
	// honours AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL.
	Endpoint string
	// HTTPClient, when set, sends the requests.
	HTTPClient aws.HTTPClient
	// MinDelay and MaxDelay bound the delay between two polls of a copy
	// that is not available yet; MaxWait bounds the wait for one copy.
	// Zero means DefaultMinDelay, DefaultMaxDelay and DefaultMaxWait.
	MinDelay, MaxDelay, MaxWait time.Duration
}

// EC2 publishes machine images with the Amazon EC2 API.
type EC2 struct {
	cfg  aws.Config
	opts Options
}

var _ Publisher = (*EC2)(nil)

// New loads the AWS configuration (the default credential chain, region and
// endpoint settings) and returns an EC2 publisher. It does not look for
// credentials yet: Publish does, before it changes anything.
func New(ctx context.Context, opts Options) (*EC2, error) {
	var load []func(*config.LoadOptions) error
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(opts.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, failure.New(failure.Config, "AWS configuration", fmt.Errorf("amis: load AWS configuration: %w", err), "")
	}
	if opts.MinDelay <= 0 {
		opts.MinDelay = DefaultMinDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.MinDelay {
		opts.MaxDelay = opts.MinDelay
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	return &EC2{cfg: cfg, opts: opts}, nil
}

// client returns an EC2 client for region.
func (p *EC2) client(region string) *ec2.Client {
	return ec2.NewFromConfig(p.cfg, func(o *ec2.Options) {
		o.Region = region
		if p.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.opts.Endpoint)
		}
	})
}

// Publish copies, shares and tags the source AMIs for req.Environment. It
// first runs Check, then publishes one region at a time in sorted order. On
// error the Result holds the regions already published; running Publish
// again finishes the others without duplicating any copy.
func (p *EC2) Publish(ctx context.Context, req Request) (Result, error) {
	if err := p.Check(ctx, req); err != nil {
		return Result{}, err
	}
	res := Result{AMIs: map[string]string{}}
	for _, region := range req.regions() {
		id, err := p.publish(ctx, req, region)
		if err != nil {
			subject := fmt.Sprintf("publish %s to %s in %s", req.Target, req.Environment, region)
			return res, failure.New(classify(err), subject, fmt.Errorf("amis: %w", err), "")
		}
		res.AMIs[region] = id
	}
	return res, nil
}

// Check makes sure, without changing anything, that req can be published:
// the request is valid, the credential chain yields credentials (else
// ErrNoCredentials) and every source AMI exists (else *NotFoundError) and is
// available (else *StateError). Publish runs the same checks first; callers
// that have other work to do before publishing call Check before it.
func (p *EC2) Check(ctx context.Context, req Request) error {
	if err := req.validate(); err != nil {
		return err
	}
	if err := p.checkCredentials(ctx); err != nil {
		return err
	}
	return p.checkSources(ctx, req.Source)
}

// checkCredentials fails with ErrNoCredentials unless the credential chain
// yields an access key.
func (p *EC2) checkCredentials(ctx context.Context) error {
	var cause error
	if p.cfg.Credentials != nil {
		creds, err := p.cfg.Credentials.Retrieve(ctx)
		if err == nil && creds.HasKeys() {
			return nil
		}
		cause = err
	}
	err := fmt.Errorf("amis: %w", ErrNoCredentials)
	if cause != nil {
		err = fmt.Errorf("amis: %w: %w", ErrNoCredentials, cause)
	}
	hint := credentialsHint
	if p.opts.Profile != "" {
		hint = fmt.Sprintf("profile %q provides none; %s", p.opts.Profile, credentialsHint)
	}
	return failure.New(failure.Config, "AWS credentials", err, hint)
}

// checkSources fails unless every source AMI exists and is available.
func (p *EC2) checkSources(ctx context.Context, source map[string]string) error {
	for _, region := range slices.Sorted(maps.Keys(source)) {
		id := source[region]
		subject := fmt.Sprintf("source AMI %s in %s", id, region)
		out, err := p.client(region).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		switch {
		case notFound(err) || (err == nil && len(out.Images) == 0):
			return failure.New(failure.Config, subject, fmt.Errorf("amis: %w", &NotFoundError{Region: region, ID: id, Err: err}),
				"check the account of the credentials in use, and that the AMI is shared with it")
		case err != nil:
			return failure.New(classify(err), subject, fmt.Errorf("amis: describe source AMI: %w", err), "")
		}
		if state := string(out.Images[0].State); state != "available" {
			return failure.New(failure.Config, subject, fmt.Errorf("amis: %w", &StateError{Region: region, ID: id, State: state}), "")
		}
	}
	return nil
}
