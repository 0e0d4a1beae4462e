// Package amis is the cloud-side step of promoting a machine image. Once
// bakery's policy gate has passed for a machine image (an OCI record whose
// config lists AMI ids per region), Publish gives the target environment
// AMIs of its own: it copies the source AMI into each target region, shares
// the copy with the environment's AWS accounts (launch permission) and tags
// it with the record's digest, the environment and the target.
//
// Publishing is idempotent. Each copy carries the tags bakery.digest,
// bakery.environment and bakery.target from the moment it exists, and its
// CopyImage request carries a client token derived from the same values, so
// a run that failed half-way can simply be run again: it finds the copies
// the first run made and finishes them instead of making new ones.
//
// The EC2 publisher uses aws-sdk-go-v2's default configuration: credentials
// from the environment, the shared config and credentials files, SSO, or an
// instance or task role; endpoints from the standard resolution, which
// honours AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL and the endpoint_url
// setting of the shared config file, so tests and the demo point it at
// promote/amis/ec2local without code changes.
//
// Once promoted, the AMIs can be rolled out (rollout.go, Rollouter): a new
// launch template version per configured template, and an instance refresh
// of the Auto Scaling groups launched from it, through the SDK's Auto
// Scaling client (AWS_ENDPOINT_URL_AUTO_SCALING).
//
// Sharing an AMI does not share what it needs beyond launch permission:
// AMIs with encrypted snapshots also need the KMS key shared with the target
// accounts, and accounts that must copy (rather than launch) the AMI need
// createVolumePermission on its snapshots.
package amis

import "context"

// Tags that identify a promoted copy. Request.Tags may not set them.
const (
	TagDigest      = "bakery.digest"
	TagEnvironment = "bakery.environment"
	TagTarget      = "bakery.target"
)

// Request asks for a machine image to be published to an environment.
type Request struct {
	// Digest is the digest of the record being promoted (sha256:...).
	Digest string
	// Environment is the environment promoted to.
	Environment string
	// Target is the name of the bakery target the image was built from.
	Target string
	// Source maps a region to the AMI the promotion copies from there: the
	// record's AMIs, or the previous environment's.
	Source map[string]string
	// Regions are the target regions; empty means the source's regions.
	Regions []string
	// Accounts are the AWS account ids the copies are shared with (launch
	// permission). Publishing adds permissions; it never removes any.
	Accounts []string
	// Tags are extra tags set on each copy. They may set Name, but not the
	// bakery.* tags.
	Tags map[string]string
}

// Result is what a publication made.
type Result struct {
	// AMIs maps each target region to the environment's AMI there.
	AMIs map[string]string
}

// Publisher publishes machine images to an environment.
type Publisher interface {
	// Publish copies, shares and tags the source AMIs for req.Environment,
	// checking before it changes anything that it has credentials and
	// that every source AMI is available. On error the Result holds the
	// regions that were completed.
	Publish(ctx context.Context, req Request) (Result, error)
}
