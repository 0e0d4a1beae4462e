package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/receipt"
)

// Clouds is the cloud side of promoting a machine image: it checks, before
// anything is copied, that the promotion can be done, and then gives the
// environment its own AMIs; when the digest is revoked it withdraws them, and
// when no environment needs them any more (bakery gc) it removes them.
type Clouds interface {
	Check(ctx context.Context, req amis.Request) error
	amis.Publisher
	amis.Withdrawer
	amis.Rollouter
	amis.Remover
}

// NewClouds returns the Clouds for an environment's aws settings.
type NewClouds func(ctx context.Context, aws *config.AWS) (Clouds, error)

// DefaultClouds talks to EC2 with the AWS SDK's default configuration.
func DefaultClouds(ctx context.Context, aws *config.AWS) (Clouds, error) {
	return amis.New(ctx, amis.Options{Profile: aws.Profile})
}

// cloudStep is the AMI part of one promotion, planned before the copy.
type cloudStep struct {
	clouds Clouds
	req    amis.Request
	// rollout replaces the instances once the promotion is done; nil when
	// the environment names no launch template for the target.
	rollout *rolloutStep
}

// rolloutStep returns the step's rollout, if any.
func (s *cloudStep) rolloutStep() *rolloutStep {
	if s == nil {
		return nil
	}
	return s.rollout
}

// planAMIs returns the AMI step of promoting src into to, or nil when there is
// none: src is not a machine-image record, it has no AMIs (a file-based
// build), or to has no aws settings. It checks credentials and source AMIs
// now, so that a promotion that cannot finish fails before it copies
// anything.
func (p *Promoter) planAMIs(ctx context.Context, target string, from, to *config.Environment, src name.Digest, rep *attest.Report) (*cloudStep, error) {
	if to.AWS == nil {
		return nil, nil
	}
	rec, err := machineimage.Read(ctx, src)
	if errors.Is(err, machineimage.ErrNotRecord) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	source := receipt.AMIs(rep, receipt.Bind(p.opts.Config, target), from.Name)
	if len(source) == 0 {
		source = rec.AMIs
	}
	if len(source) == 0 {
		return nil, nil
	}
	subject := fmt.Sprintf("promote %s to %s", target, to.Name)
	clouds, err := p.newClouds(ctx, to.AWS)
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), subject, err, "")
	}
	step := &cloudStep{clouds: clouds, req: amis.Request{
		Digest: src.DigestStr(), Environment: to.Name, Target: target, Source: source,
		Regions: to.AWS.Regions, Accounts: to.AWS.Accounts, Tags: to.AWS.Tags,
	}}
	if err := clouds.Check(ctx, step.req); err != nil {
		class := failure.ClassOf(err)
		var nf *amis.NotFoundError
		if errors.As(err, &nf) {
			// The signed record names an AMI that is not there: what would be
			// promoted is not what was attested.
			class = failure.Verify
		}
		return nil, failure.New(class, subject, err, "nothing was copied or tagged")
	}
	if step.rollout, err = p.planRollout(ctx, clouds, target, src.DigestStr(), to); err != nil {
		return nil, err
	}
	return step, nil
}

// publish copies, shares and tags the AMIs and returns the new ids.
func (s *cloudStep) publish(ctx context.Context) (map[string]string, error) {
	if s == nil {
		return nil, nil
	}
	res, err := s.clouds.Publish(ctx, s.req)
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), fmt.Sprintf("promote %s to %s", s.req.Target, s.req.Environment), err,
			"no receipt was signed and the tag did not move; re-run to finish (copies already made are reused)")
	}
	return res.AMIs, nil
}
