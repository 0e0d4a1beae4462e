// Package builders is where a digest is born. A Builder bakes one target of
// bakery.yaml and pushes it, by digest, to a repository; the Result names
// exactly what was pushed. Everything after (attest, promote) takes a
// Result's repository and digest, never a tag.
//
// Implementations: builders/buildkit (container images on buildkitd) and
// packer (machine images through Packer, recorded in the registry
// as machineimage records).
package builders

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/internal/config"
)

// Builder bakes a target and pushes the result by digest.
type Builder interface {
	Build(ctx context.Context, req Request) (Result, error)
}

// Checker is a Builder that can tell, before anything is built, that it
// will not be able to build a target (a platform no builder node builds).
type Checker interface {
	Check(t *config.Target) error
}

// Request is one target to bake and where its result goes.
type Request struct {
	Target *config.Target
	// Dir is the directory relative paths of the target are resolved against
	// (the config file's directory).
	Dir string
	// Repository receives the result by digest. No tag is written by a Builder.
	Repository name.Repository
	// TargetArgs are the build args that name another target
	// (BASE: target:golden-base), resolved by the caller: the builder passes
	// the image instead of the arg's value, pinned to its digest, and records
	// the arg as written.
	TargetArgs map[string]TargetRef
	// SourceDateEpoch is the time, in seconds since the Unix epoch, the
	// build stamps on what it makes (image creation time, file times of the
	// layers it writes), so that the same inputs give the same digest.
	SourceDateEpoch int64
	// Pinned maps base images (as the Dockerfile names them) to the digest
	// the build must use, as a rebuild of recorded provenance does.
	Pinned map[string]string
	// Verify builds without pushing, to learn the digest the inputs give
	// (bakery rebuild --verify); NoCache builds every step again.
	Verify, NoCache bool
}

// TargetRef is what a build arg naming a target stands for: the target's
// first-environment tag (Image, repository:tag) and the digest it is pinned
// to (sha256:...), the one built in the same run or the one that tag held.
type TargetRef struct {
	Target string
	Image  string
	Digest string
}

// Args is t's build args as the builder passes them: each arg naming a
// target replaced by that target's image.
func (r Request) Args() map[string]string {
	if len(r.TargetArgs) == 0 {
		return r.Target.Args
	}
	out := make(map[string]string, len(r.Target.Args))
	for k, v := range r.Target.Args {
		out[k] = v
	}
	for k, tr := range r.TargetArgs {
		out[k] = tr.Image
	}
	return out
}

// Pins maps each image a target arg stands for, and each Pinned image, to
// its digest.
func (r Request) Pins() map[string]string {
	out := make(map[string]string, len(r.TargetArgs)+len(r.Pinned))
	for ref, d := range r.Pinned {
		out[ref] = d
	}
	for _, tr := range r.TargetArgs {
		out[tr.Image] = tr.Digest
	}
	return out
}

// Kind is what a Result is.
type Kind string

// The kinds of result.
const (
	Container    Kind = "container"
	MachineImage Kind = "machine-image"
)

// Result is what a Builder pushed.
type Result struct {
	Target     string  `json:"target"`
	Kind       Kind    `json:"kind"`
	Repository string  `json:"repository"`
	Digest     v1.Hash `json:"digest"`
	MediaType  string  `json:"mediaType"`
	// Platforms lists os/arch[/variant]; an index has several.
	Platforms []string `json:"platforms"`
	// Size is the total bytes of manifests, configs and distinct layers.
	Size    int64 `json:"size"`
	Builder Info  `json:"builder"`
	// Tags are the tags pointed at Digest after the build (the first
	// environment's tag); a Builder leaves it empty.
	Tags []string `json:"tags,omitempty"`
	// Nodes names, per platform, the builder node that built it (for a
	// fleet of buildkitd nodes).
	Nodes map[string]string `json:"nodes,omitempty"`
	// Invocation records how the result was made, for provenance.
	Invocation *Invocation `json:"-"`
	// SBOM is a syft JSON document the builder catalogued itself, for a
	// result syft cannot read from the registry: a machine image's packages
	// are collected inside the machine while it is built.
	SBOM []byte `json:"-"`
}

// Invocation is what provenance needs to know about one build.
type Invocation struct {
	StartedOn, FinishedOn time.Time
	// ExternalParameters are the inputs a user controls: the target's config
	// (secret ids, never values), the source, the build definition's digest.
	ExternalParameters Parameters
	// ResolvedDependencies are the artifacts the build pulled, with digests
	// as the build tool resolved them (base images).
	ResolvedDependencies []Dependency
}

// Dependency is an input artifact pinned by digest (SLSA ResourceDescriptor).
type Dependency struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// Info identifies the software that built a Result.
type Info struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Reference returns repository@digest.
func (r Result) Reference() string { return r.Repository + "@" + r.Digest.String() }
