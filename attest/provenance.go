package attest

import (
	"time"

	"github.com/bakeryhq/bakery/builders"
)

// Predicate types bakery attaches, and the cosign --type names for them.
const (
	PredicateSPDX       = "https://spdx.dev/Document"
	PredicateCycloneDX  = "https://cyclonedx.org/bom"
	PredicateSLSAv1     = "https://slsa.dev/provenance/v1"
	BuildTypeContainer  = "https://github.com/bakeryhq/bakery/buildtypes/container/v1"
	BuildTypeMachineImg = "https://github.com/bakeryhq/bakery/buildtypes/machine-image/v1"
)

// Provenance is the SLSA v1 provenance predicate (https://slsa.dev/provenance/v1).
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what was built, from what.
type BuildDefinition struct {
	BuildType            string                `json:"buildType"`
	ExternalParameters   map[string]any        `json:"externalParameters"`
	InternalParameters   map[string]any        `json:"internalParameters,omitempty"`
	ResolvedDependencies []builders.Dependency `json:"resolvedDependencies,omitempty"`
}

// RunDetails is who built it, and when.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder identifies the build platform.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata holds the times of the build.
type Metadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// NewProvenance makes the provenance of a build result.
func NewProvenance(res builders.Result, builderID, bakeryVersion string) Provenance {
	buildType := BuildTypeContainer
	if res.Kind == builders.MachineImage {
		buildType = BuildTypeMachineImg
	}
	p := Provenance{
		BuildDefinition: BuildDefinition{
			BuildType:          buildType,
			ExternalParameters: map[string]any{},
			InternalParameters: map[string]any{"builder": res.Builder},
		},
		RunDetails: RunDetails{
			Builder: Builder{ID: builderID, Version: map[string]string{"bakery": bakeryVersion, res.Builder.Name: res.Builder.Version}},
		},
	}
	if inv := res.Invocation; inv != nil {
		p.BuildDefinition.ExternalParameters = inv.ExternalParameters
		p.BuildDefinition.ResolvedDependencies = inv.ResolvedDependencies
		started, finished := inv.StartedOn.UTC(), inv.FinishedOn.UTC()
		p.RunDetails.Metadata = Metadata{FinishedOn: &finished}
		if !started.IsZero() {
			p.RunDetails.Metadata.StartedOn = &started
		}
	}
	return p
}
