package attest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Predicate types bakery attaches, and the cosign --type names for them.
const (
	PredicateSPDX      = "https://spdx.dev/Document"
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	PredicateSLSAv1    = "https://slsa.dev/provenance/v1"
	// PredicateVSA is a receipt's (package receipt): a SLSA verification
	// summary.
	PredicateVSA        = "https://slsa.dev/verification_summary/v1"
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
	ExternalParameters   builders.Parameters   `json:"externalParameters"`
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

// ReadProvenance decodes a provenance predicate, strictly: a field of the
// wrong type is an error, and so are external parameters of the other
// builder's shape than the build type says (a container's build type whose
// parameters name the target by a string, as a machine image's do). Errors
// are failure.Verify: the predicate came from the registry, and whoever signed
// it wrote something bakery does not write.
func ReadProvenance(subject string, predicate []byte) (*Provenance, error) {
	var p Provenance
	if err := json.Unmarshal(predicate, &p); err != nil {
		return nil, failure.New(failure.Verify, subject, fmt.Errorf("the provenance does not decode: %w", err), provenanceHint)
	}
	want := map[string]builders.Kind{BuildTypeContainer: builders.Container, BuildTypeMachineImg: builders.MachineImage}[p.BuildDefinition.BuildType]
	if got := p.BuildDefinition.ExternalParameters.Kind(); want != "" && got != "" && got != want {
		return nil, failure.New(failure.Verify, subject,
			fmt.Errorf("the provenance's build type is %s but its external parameters are a %s's", p.BuildDefinition.BuildType, got), provenanceHint)
	}
	return &p, nil
}

const provenanceHint = "it was not written by bakery's builders: build the target again with bakery build"

// ProvenanceOf reads the verified SLSA provenance of rep with ReadProvenance
// (nil when it has none).
func ProvenanceOf(rep *Report) (*Provenance, error) {
	i := slices.IndexFunc(rep.Attestations, func(a AttestationInfo) bool { return a.PredicateType == PredicateSLSAv1 })
	if i < 0 {
		return nil, nil
	}
	return ReadProvenance(rep.Reference, rep.Attestations[i].Predicate)
}
