package attest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
)

// provenanceOf is a provenance predicate of buildType with the given
// external parameters (JSON).
func provenanceOf(buildType, params string) []byte {
	return []byte(`{"buildDefinition":{"buildType":"` + buildType + `","externalParameters":` + params +
		`},"runDetails":{"builder":{"id":"https://builder.test"}}}`)
}

func TestReadProvenance(t *testing.T) {
	container := `{"args":null,"dockerfile":{"digest":{"sha256":"d0"},"path":"Dockerfile"},"target":{"name":"app"}}`
	machine := `{"artifactId":"ami-1","buildName":"b","builderType":"bakery-chroot","target":"golden-ami"}`
	for _, tc := range []struct {
		name, pred string
		kind       builders.Kind
		wrong      string // what the error says; "" for none
	}{
		{"container", string(provenanceOf(BuildTypeContainer, container)), builders.Container, ""},
		{"machine image", string(provenanceOf(BuildTypeMachineImg, machine)), builders.MachineImage, ""},
		{"no inputs", string(provenanceOf(BuildTypeContainer, `{}`)), "", ""},
		{"another tool's", string(provenanceOf("https://mobyproject.org/buildkit@v1", `{"request":{"frontend":"dockerfile.v0"}}`)), "", ""},
		{"no parameters", `{"buildDefinition":{"buildType":"` + BuildTypeContainer + `"}}`, "", ""},
		{"a container's target is a string", string(provenanceOf(BuildTypeContainer, `{"target":"app"}`)), "", "build type"},
		{"a machine image's target is an object", string(provenanceOf(BuildTypeMachineImg, container)), "", "build type"},
		{"target is a number", string(provenanceOf(BuildTypeContainer, `{"target":7}`)), "", "target is a number"},
		{"target is an array", string(provenanceOf(BuildTypeContainer, `{"target":["app"]}`)), "", "target is an array"},
		{"args is an array", string(provenanceOf(BuildTypeContainer, `{"target":{},"args":["A=1"]}`)), "", "externalParameters.args"},
		{"a platform is a number", string(provenanceOf(BuildTypeContainer, `{"target":{"platforms":[1]}}`)), "", "target.platforms"},
		{"source is a string", string(provenanceOf(BuildTypeContainer, `{"target":{},"source":"git"}`)), "", "externalParameters.source"},
		{"variables are numbers", string(provenanceOf(BuildTypeMachineImg, `{"target":"t","variables":{"n":1}}`)), "", "externalParameters.variables"},
		{"parameters are a string", string(provenanceOf(BuildTypeContainer, `"app"`)), "", "does not decode"},
		{"a dependency's digest is a string", `{"buildDefinition":{"resolvedDependencies":[{"uri":"x","digest":"sha256:aa"}]}}`, "", "does not decode"},
		{"not JSON", `{"buildDefinition":`, "", "does not decode"},
	} {
		p, err := ReadProvenance("r@sha256:aa", []byte(tc.pred))
		switch {
		case tc.wrong == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wrong == "" && p.BuildDefinition.ExternalParameters.Kind() != tc.kind:
			t.Errorf("%s: parameters of kind %q, want %q", tc.name, p.BuildDefinition.ExternalParameters.Kind(), tc.kind)
		case tc.wrong != "" && err == nil:
			t.Errorf("%s: read %+v, want an error", tc.name, p.BuildDefinition.ExternalParameters)
		case tc.wrong != "" && (failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), tc.wrong)):
			t.Errorf("%s: %v (class %v), want a verification failure saying %q", tc.name, err, failure.ClassOf(err), tc.wrong)
		}
	}
}

// TestNewProvenanceRecordsParameters: the predicate bakery signs carries a
// build's parameters as the builder wrote them, and reads back the same.
func TestNewProvenanceRecordsParameters(t *testing.T) {
	params := builders.Parameters{MachineImage: &builders.MachineImageParameters{Target: "golden-ami", BuildName: "golden"},
		RevokedBaseOverride: &builders.BaseOverride{Digest: "sha256:aa", Reason: "INC-7"}}
	res := builders.Result{Kind: builders.MachineImage, Invocation: &builders.Invocation{ExternalParameters: params}}
	pred, err := json.Marshal(NewProvenance(res, "https://builder.test", "test"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadProvenance("r@sha256:aa", pred)
	if err != nil {
		t.Fatal(err)
	}
	got := p.BuildDefinition.ExternalParameters
	if got.MachineImage == nil || got.MachineImage.Target != "golden-ami" || got.RevokedBaseOverride == nil || got.RevokedBaseOverride.Reason != "INC-7" {
		t.Errorf("read back %+v from %s", got, pred)
	}
	if pred, _ := json.Marshal(NewProvenance(builders.Result{}, "b", "test")); !strings.Contains(string(pred), `"externalParameters":{}`) {
		t.Errorf("a build without an invocation: %s", pred)
	}
}
