// Package gc is bakery gc: retention. It reads every target's repositories
// in every environment (tags, attachments, verified receipts and
// provenance, the revocation list, the gc log), decides what no
// environment can need any more, and deletes it cleanly.
//
// What is kept of a target in an environment (Plan): the digest its tag
// points at; the newest digests that hold a receipt there (the rollback
// window) and anything built or receipted more recently than the minimum
// age; whatever a later environment keeps; every digest the verified
// provenance of a kept digest names as a base or material, in whichever
// repository it is; every digest a revocation names; and the platform
// images of a kept index. Everything else that a tag, an attachment or an
// unfinished gc run names in the target's repositories is deleted
// (Apply), attachments (signatures, attestations, referrers) before what
// they are attached to, platform images no kept index uses after their
// index, and a machine image's AMIs and snapshots with it.
package gc

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/promote/amis"
)

// Collector plans and applies retention.
type Collector interface {
	// Plan decides what goes and what stays; it changes nothing.
	Plan(ctx context.Context, sel Selection) (*Plan, error)
	// Apply deletes what plan says, journalled in each repository's gc log.
	Apply(ctx context.Context, plan *Plan) (*Result, error)
}

// Selection limits what a plan deletes (never what it reads: a digest of
// another target or environment may keep one of these).
type Selection struct {
	// Targets and Environments; empty means all.
	Targets      []string
	Environments []string
}

// Options configure a collector.
type Options struct {
	Config   *config.Config
	Verifier *attest.Verifier
	// Signer signs the gc log (Apply only).
	Signer *attest.PendingSigner
	// Clouds returns what deletes an environment's AMIs; nil is
	// DefaultClouds.
	Clouds func(ctx context.Context, aws *config.AWS) (amis.Remover, error)
	// Now is the time rules are judged at; nil is time.Now.
	Now func() time.Time
	// Parallel bounds the registry requests in flight; default 8.
	Parallel int
	// Progress, when set, is told of each step of Apply.
	Progress func(format string, args ...any)
}

// DefaultClouds talks to EC2 with the AWS SDK's default configuration
// (the environment's profile when it has aws settings).
func DefaultClouds(ctx context.Context, aws *config.AWS) (amis.Remover, error) {
	opts := amis.Options{}
	if aws != nil {
		opts.Profile = aws.Profile
	}
	return amis.New(ctx, opts)
}

type collector struct {
	opts     Options
	requests atomic.Int64
}

// New returns a Collector.
func New(opts Options) Collector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Clouds == nil {
		opts.Clouds = DefaultClouds
	}
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	return &collector{opts: opts}
}

func (c *collector) parallel() int {
	if c.opts.Parallel > 0 {
		return c.opts.Parallel
	}
	return 8
}

// counting returns ctx whose registry requests c counts (Plan.Requests).
func (c *collector) counting(ctx context.Context) context.Context {
	return registry.Wrap(ctx, func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c.requests.Add(1)
			return next.RoundTrip(r)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Plan is what a gc run deletes and keeps, repository by repository.
type Plan struct {
	Time         string        `json:"time"`
	Repositories []*Repository `json:"repositories"`
	// Bytes and AMIs are what the deletions free (see Repository.Bytes).
	Bytes int64 `json:"bytes"`
	AMIs  int   `json:"amis"`
	// Deletions counts the manifests to delete.
	Deletions int `json:"deletions"`
	// Requests is how many requests planning sent to registries.
	Requests int64 `json:"requests"`
	// Ignored names gc logs that did not verify (they count for nothing).
	Ignored []string `json:"ignored,omitempty"`
	// Warnings name what the plan keeps without judging it: digests whose
	// receipts name another address of the repository.
	Warnings []string `json:"warnings,omitempty"`
}

// Repository is one target's repository in one environment.
type Repository struct {
	Target      string            `json:"target"`
	Environment string            `json:"environment"`
	Repository  string            `json:"repository"`
	Rules       record.Rules      `json:"rules"`
	Keep        []Kept            `json:"keep"`
	Delete      []record.Deletion `json:"delete"`
	AMIs        []record.AMI      `json:"amis"`
	// Bytes is the size of the deleted manifests and of the blobs they
	// use that no kept manifest of the repository uses: what the
	// registry's own garbage collection can then give back (less any blob
	// another repository still uses).
	Bytes int64 `json:"bytes"`
	// Left names what gc cannot delete without harming a kept digest: a
	// tag naming a gone subject that points at a kept manifest (forged, or
	// reused); the registry deletes manifests, not tags.
	Left []string `json:"left,omitempty"`
	// Resumes names the unfinished gc runs whose deletions this one
	// finishes (their start times).
	Resumes []string `json:"resumes,omitempty"`

	scan  *repoScan
	inUse map[string]bool
}

// Kept is a digest that stays, and every rule that keeps it.
type Kept struct {
	Digest  string   `json:"digest"`
	Kind    string   `json:"kind"`
	Reasons []string `json:"reasons"`
}

// Result is what Apply did.
type Result struct {
	Plan *Plan `json:"plan"`
	// Deleted counts the manifests deleted (already gone ones included);
	// Deregistered the AMIs.
	Deleted      int `json:"deleted"`
	Deregistered int `json:"deregistered"`

	mu sync.Mutex
}
