package builders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Parameters is what a build records as the external parameters of its SLSA
// provenance (buildDefinition.externalParameters): the inputs a user
// controls. Each builder writes its own shape, told apart on the wire by the
// kind of "target" (an object for a container, a string for a machine
// image): builders/buildkit sets Container, the Packer post-processor sets
// MachineImage, and never both. Neither is set when a provenance records no
// inputs ({}), or when it was made by another tool whose parameters name no
// "target" (those are not read).
//
// The JSON is byte for byte what the builders wrote as maps before this type
// (keys in sorted order, null where a map wrote nil), so provenance signed by
// an earlier bakery decodes and encodes again unchanged. Decoding is strict
// about types: a "target" of another kind, or a known key of another type,
// is an error, never a value silently left out.
type Parameters struct {
	Container    *ContainerParameters
	MachineImage *MachineImageParameters
	// RevokedBaseOverride records that the build went ahead on a base image
	// whose digest is revoked, because whoever ran it overrode bakery
	// build's refusal; nil (and absent from the JSON) when no revoked base
	// was overridden. Either builder's shape may carry it.
	RevokedBaseOverride *BaseOverride
}

// BaseOverride is one revoked base a build was allowed to use anyway.
type BaseOverride struct {
	// Digest is the revoked base's digest (sha256:...).
	Digest string `json:"digest"`
	// Reason is why the build was allowed to use it, as its operator gave it.
	Reason string `json:"reason"`
}

// ContainerParameters is what builders/buildkit records for a container:
// the target's settings, its args, and its Dockerfile and context directory
// by digest. JSON keys are in sorted order, as the map they replace wrote them.
type ContainerParameters struct {
	Args map[string]string `json:"args"`
	// Context is the context directory and the digest of its content
	// (TreeDigest); nil in provenance from before bakery recorded it.
	Context    *Input `json:"context,omitempty"`
	Dockerfile Input  `json:"dockerfile"`
	// Source is the git checkout the context is in; nil outside one.
	Source *Source `json:"source,omitempty"`
	// SourceDateEpoch is the build's SOURCE_DATE_EPOCH (seconds), which
	// stamps the image's times; nil in provenance from before bakery set it.
	SourceDateEpoch *int64         `json:"sourceDateEpoch,omitempty"`
	Target          TargetSettings `json:"target"`
}

// TargetSettings are a container target's settings as bakery.yaml gives
// them. Secrets appear by id and kind of source only, never by value.
type TargetSettings struct {
	CacheFrom  []string          `json:"cache_from"`
	CacheTo    []string          `json:"cache_to"`
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile"`
	Labels     map[string]string `json:"labels"`
	Name       string            `json:"name"`
	Platforms  []string          `json:"platforms"`
	Secrets    []SecretRef       `json:"secrets"`
	Stage      string            `json:"stage"`
	Type       string            `json:"type"`
}

// SecretRef names a build secret: its id, and "file" or "env" for where
// its value came from.
type SecretRef struct {
	ID     string `json:"id"`
	Source string `json:"source"`
}

// Input is a file or directory a build read, by path and digest
// ({"sha256": hex}); Digest is nil when it could not be read.
type Input struct {
	Digest map[string]string `json:"digest,omitempty"`
	Path   string            `json:"path"`
}

// MachineImageParameters is what the Packer post-processor records for a
// machine image: the target by name, the Packer build that made it, the
// template by digest, and the variables and build selection bakery passed
// (each left out when empty).
type MachineImageParameters struct {
	ArtifactID  string            `json:"artifactId"`
	BuildName   string            `json:"buildName"`
	BuilderType string            `json:"builderType"`
	Except      []string          `json:"except,omitempty"`
	Only        []string          `json:"only,omitempty"`
	Target      string            `json:"target"`
	Template    *Input            `json:"template,omitempty"`
	Variables   map[string]string `json:"variables,omitempty"`
}

// MarshalJSON writes the shape that is set (an empty object when neither
// is), with revokedBaseOverride after its keys when there is one.
func (p Parameters) MarshalJSON() ([]byte, error) {
	type override struct {
		RevokedBaseOverride *BaseOverride `json:"revokedBaseOverride,omitempty"`
	}
	switch {
	case p.Container != nil && p.MachineImage != nil:
		return nil, errors.New("parameters of a container and of a machine image at once")
	case p.Container != nil:
		return json.Marshal(struct {
			*ContainerParameters
			override
		}{p.Container, override{p.RevokedBaseOverride}})
	case p.MachineImage != nil:
		return json.Marshal(struct {
			*MachineImageParameters
			override
		}{p.MachineImage, override{p.RevokedBaseOverride}})
	}
	return json.Marshal(override{p.RevokedBaseOverride})
}

// UnmarshalJSON reads either builder's shape, chosen by the kind of
// "target". Parameters without a "target" (another tool's) decode to
// neither shape; a "target" that is neither an object nor a string, or a
// known key of the wrong type, is an error.
func (p *Parameters) UnmarshalJSON(b []byte) error {
	var probe struct {
		Target              json.RawMessage `json:"target"`
		RevokedBaseOverride *BaseOverride   `json:"revokedBaseOverride"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return paramError(err)
	}
	*p = Parameters{RevokedBaseOverride: probe.RevokedBaseOverride}
	target := bytes.TrimSpace(probe.Target)
	var err error
	switch {
	case len(target) == 0 || string(target) == "null":
	case target[0] == '{':
		p.Container, err = decode[ContainerParameters](b)
	case target[0] == '"':
		p.MachineImage, err = decode[MachineImageParameters](b)
	default:
		err = fmt.Errorf("externalParameters: the target is %s, not an object (a container's settings) or a string (a machine image's target)", kindOf(target[0]))
	}
	if err != nil {
		*p = Parameters{}
	}
	return err
}

// decode reads one builder's shape.
func decode[T any](b []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, paramError(err)
	}
	return &v, nil
}

// Kind is the kind of result the parameters were recorded for ("" when
// neither shape is set).
func (p Parameters) Kind() Kind {
	switch {
	case p.Container != nil:
		return Container
	case p.MachineImage != nil:
		return MachineImage
	}
	return ""
}

func paramError(err error) error {
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("externalParameters.%s is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("externalParameters: %w", err)
}

func kindOf(c byte) string {
	switch c {
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
