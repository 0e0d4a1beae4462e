package policies

import (
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the document every policy sees as `input`. Field names are the
// JSON names below; docs/policy.md describes each.
type Input struct {
	Image Image `json:"image"`
	// Target is the bakery target the image was built from.
	Target string `json:"target"`
	// Environment is the environment being promoted to; SourceEnvironment
	// the one the digest comes from ("" when given by --digest);
	// PreviousEnvironment the one before Environment in the config's order
	// ("" for the first).
	Environment         string `json:"environment"`
	SourceEnvironment   string `json:"source_environment"`
	PreviousEnvironment string `json:"previous_environment"`
	// AcceptDirect is the environment's accept_direct setting.
	AcceptDirect bool `json:"accept_direct"`
	// Signatures are the signatures of the digest that a trusted key verified.
	Signatures []Signature `json:"signatures"`
	SBOM       SBOM        `json:"sbom"`
	// Provenance is the verified SLSA provenance, or null.
	Provenance *Provenance `json:"provenance"`
	// Receipts are the verified promotion receipts the digest holds so far.
	Receipts []Receipt `json:"receipts"`
	Config   Config    `json:"config"`
}

// Image names the digest under decision.
type Image struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Reference  string `json:"reference"`
}

// Signature is a verified signature.
type Signature struct {
	KeyID    string `json:"key_id"`
	SignedAt string `json:"signed_at,omitempty"`
}

// SBOM is what the verified SBOM attestations list, all platforms together.
type SBOM struct {
	Present  bool      `json:"present"`
	Packages []Package `json:"packages"`
}

// Package is one package of the SBOM.
type Package struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Type     string   `json:"type"`
	Licenses []string `json:"licenses"`
}

// Provenance is the part of the SLSA provenance policies look at.
type Provenance struct {
	BuilderID            string   `json:"builder_id"`
	BuildType            string   `json:"build_type"`
	StartedOn            string   `json:"started_on,omitempty"`
	FinishedOn           string   `json:"finished_on,omitempty"`
	ResolvedDependencies []string `json:"resolved_dependencies"`
}

// Receipt is a verified promotion receipt.
type Receipt struct {
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Time        string `json:"time"`
	KeyID       string `json:"key_id"`
	Result      string `json:"result"`
	Action      string `json:"action"`
}

// Config is the policy section of bakery.yaml.
type Config struct {
	AllowedBuilders []string `json:"allowed_builders"`
	LicenseDenylist []string `json:"license_denylist"`
	PackageDenylist []string `json:"package_denylist"`
}

// document converts the input to OPA's value once, through JSON, so the
// policies see exactly the documented field names.
func (in Input) document() (ast.Value, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(v)
}
