package amis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Withdrawer takes an environment's AMIs out of use when their digest is
// revoked, and puts them back when the revocation is undone.
type Withdrawer interface {
	// Withdraw deprecates each AMI (region → id) at at and, when disable,
	// disables it, so that it is no longer listed or launched.
	Withdraw(ctx context.Context, amis map[string]string, at time.Time, disable bool) error
	// Reinstate enables each AMI again and cancels its deprecation.
	Reinstate(ctx context.Context, amis map[string]string) error
}

var _ Withdrawer = (*EC2)(nil)

// Withdraw runs EnableImageDeprecation then DisableImage per region. Both
// are idempotent, so a failed run can be repeated. An AMI that is no longer
// there cannot be launched: it is skipped.
func (p *EC2) Withdraw(ctx context.Context, amis map[string]string, at time.Time, disable bool) error {
	return p.eachAMI(ctx, amis, "withdraw", func(c *ec2.Client, _, id string) error {
		_, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(id), DeprecateAt: aws.Time(at.UTC())})
		if notFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deprecate %s: %w", id, err)
		}
		if !disable {
			return nil
		}
		if _, err := c.DisableImage(ctx, &ec2.DisableImageInput{ImageId: aws.String(id)}); err != nil {
			return fmt.Errorf("disable %s: %w", id, err)
		}
		return nil
	})
}

// Reinstate runs EnableImage then DisableImageDeprecation per region.
func (p *EC2) Reinstate(ctx context.Context, amis map[string]string) error {
	return p.eachAMI(ctx, amis, "reinstate", func(c *ec2.Client, _, id string) error {
		if _, err := c.EnableImage(ctx, &ec2.EnableImageInput{ImageId: aws.String(id)}); err != nil {
			return fmt.Errorf("enable %s: %w", id, err)
		}
		if _, err := c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: aws.String(id)}); err != nil {
			return fmt.Errorf("cancel the deprecation of %s: %w", id, err)
		}
		return nil
	})
}

// eachAMI runs f on every AMI, with the client and the name of its region,
// region by region in sorted order, once it has made sure there are
// credentials. It stops at the first error.
func (p *EC2) eachAMI(ctx context.Context, amis map[string]string, what string, f func(c *ec2.Client, region, id string) error) error {
	if err := p.checkCredentials(ctx); err != nil {
		return err
	}
	for _, region := range slices.Sorted(maps.Keys(amis)) {
		if err := f(p.client(region), region, amis[region]); err != nil {
			return failure.New(classify(err), fmt.Sprintf("%s %s in %s", what, amis[region], region), fmt.Errorf("amis: %w", err), "run the command again")
		}
	}
	return nil
}
