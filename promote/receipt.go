package promote

import (
	"encoding/json"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/policies"
)

// PredicateVSA is the SLSA verification summary predicate of a receipt.
const PredicateVSA = "https://slsa.dev/verification_summary/v1"

// Actions a receipt records.
const (
	ActionBuild    = "build"
	ActionPromote  = "promote"
	ActionRollback = "rollback"
)

// VSA is the receipt's predicate: SLSA verification_summary v1, with
// bakery's own fields under "bakery".
type VSA struct {
	Verifier           Verifier        `json:"verifier"`
	TimeVerified       time.Time       `json:"timeVerified"`
	ResourceURI        string          `json:"resourceUri"`
	Policy             ResourceRef     `json:"policy"`
	InputAttestations  []ResourceRef   `json:"inputAttestations"`
	VerificationResult string          `json:"verificationResult"`
	VerifiedLevels     []string        `json:"verifiedLevels"`
	SLSAVersion        string          `json:"slsaVersion"`
	Bakery             ReceiptMetadata `json:"bakery"`
}

// Verifier identifies bakery as the verifier.
type Verifier struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// ResourceRef is a URI with digests (SLSA ResourceDescriptor subset).
type ResourceRef struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// ReceiptMetadata says which step of the promotion path a receipt records.
type ReceiptMetadata struct {
	Action      string   `json:"action"`
	Target      string   `json:"target"`
	Environment string   `json:"environment"`
	From        string   `json:"from,omitempty"`
	Policies    []string `json:"policies,omitempty"`
	// AMIs are the environment's own AMI ids per region, for a machine
	// image promoted into an environment with aws settings.
	AMIs map[string]string `json:"amis,omitempty"`
}

// receiptStatement makes the in-toto statement of a receipt for dst.
func receiptStatement(dst name.Digest, meta ReceiptMetadata, policyDigest, version string, inputs []attest.AttestationInfo) (attest.Statement, error) {
	vsa := VSA{
		Verifier:           Verifier{ID: "https://github.com/bakeryhq/bakery", Version: map[string]string{"bakery": version}},
		TimeVerified:       time.Now().UTC(),
		ResourceURI:        dst.String(),
		Policy:             ResourceRef{URI: "bakery:policies/" + meta.Environment, Digest: digestMap(policyDigest)},
		VerificationResult: "PASSED",
		VerifiedLevels:     []string{"SLSA_BUILD_LEVEL_1"},
		SLSAVersion:        "1.0",
		Bakery:             meta,
	}
	for _, a := range inputs {
		vsa.InputAttestations = append(vsa.InputAttestations, ResourceRef{
			URI: dst.Context().String() + "@" + a.Layer.String(), Digest: map[string]string{a.Layer.Algorithm: a.Layer.Hex},
		})
	}
	body, err := json.Marshal(vsa)
	if err != nil {
		return attest.Statement{}, err
	}
	return attest.Statement{PredicateType: PredicateVSA, Subjects: []attest.Subject{attest.SubjectOf(dst)}, Predicate: body}, nil
}

func digestMap(d string) map[string]string {
	if alg, hex, ok := cutDigest(d); ok {
		return map[string]string{alg: hex}
	}
	return nil
}

func cutDigest(d string) (string, string, bool) {
	for i := 0; i < len(d); i++ {
		if d[i] == ':' {
			return d[:i], d[i+1:], true
		}
	}
	return "", "", false
}

// Receipts returns the verified receipts among a verification report's
// attestations, oldest first.
func Receipts(rep *attest.Report) []policies.Receipt {
	var out []policies.Receipt
	for _, a := range rep.Attestations {
		if a.PredicateType != PredicateVSA {
			continue
		}
		var v VSA
		if json.Unmarshal(a.Predicate, &v) != nil {
			continue
		}
		out = append(out, policies.Receipt{
			Environment: v.Bakery.Environment, Digest: rep.Digest.String(),
			Time: v.TimeVerified.UTC().Format(time.RFC3339Nano), KeyID: a.KeyID,
			Result: v.VerificationResult, Action: v.Bakery.Action,
		})
	}
	sortReceipts(out)
	return out
}

// ReceiptAMIs returns the AMI ids the newest verified receipt for env records.
func ReceiptAMIs(rep *attest.Report, env string) map[string]string {
	var amis map[string]string
	var newest time.Time
	for _, a := range rep.Attestations {
		if a.PredicateType != PredicateVSA {
			continue
		}
		var v VSA
		if json.Unmarshal(a.Predicate, &v) != nil || v.Bakery.Environment != env || len(v.Bakery.AMIs) == 0 {
			continue
		}
		if v.TimeVerified.After(newest) {
			newest, amis = v.TimeVerified, v.Bakery.AMIs
		}
	}
	return amis
}
