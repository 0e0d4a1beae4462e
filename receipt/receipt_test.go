package receipt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/attest"
)

func TestStatementReadsBack(t *testing.T) {
	dst, err := name.NewDigest("127.0.0.1:5000/prod/app@sha256:" + hex64('a'))
	if err != nil {
		t.Fatal(err)
	}
	sbom := attest.AttestationInfo{PredicateType: attest.PredicateSPDX, Layer: v1.Hash{Algorithm: "sha256", Hex: hex64('1')}}
	older := attest.AttestationInfo{PredicateType: PredicateVSA, Layer: v1.Hash{Algorithm: "sha256", Hex: hex64('2')}}
	meta := Metadata{Action: ActionPromote, Target: "app", Environment: "prod", From: "staging", AMIs: map[string]string{"us-east-1": "ami-1"}}
	st, err := Statement(dst, meta, "sha256:"+hex64('e'), "test", []attest.AttestationInfo{sbom, older})
	if err != nil {
		t.Fatal(err)
	}
	var vsa VSA
	if err := json.Unmarshal(st.Predicate, &vsa); err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != PredicateVSA || vsa.ResourceURI != dst.String() || vsa.VerificationResult != Passed ||
		vsa.Policy.Digest["sha256"] != hex64('e') || vsa.Bakery.Target != "app" || vsa.Bakery.Environment != "prod" {
		t.Errorf("statement %+v", vsa)
	}
	if len(vsa.InputAttestations) != 1 || vsa.InputAttestations[0].Digest["sha256"] != hex64('1') {
		t.Errorf("inputs %+v: want the SBOM only, never an older receipt", vsa.InputAttestations)
	}
}

func TestReadHasAMIs(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: hex64('d')}
	at := func(env, action string, when time.Time, amis map[string]string) attest.AttestationInfo {
		b, err := json.Marshal(VSA{TimeVerified: when, VerificationResult: Passed,
			Bakery: Metadata{Action: action, Environment: env, AMIs: amis}})
		if err != nil {
			t.Fatal(err)
		}
		return attest.AttestationInfo{PredicateType: PredicateVSA, KeyID: "k", Predicate: b}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := &attest.Report{Digest: d, Attestations: []attest.AttestationInfo{
		at("prod", ActionPromote, t0.Add(2*time.Hour), map[string]string{"us-east-1": "ami-new"}),
		at("staging", ActionPromote, t0, nil),
		at("prod", ActionPromote, t0.Add(time.Hour), map[string]string{"us-east-1": "ami-old"}),
		{PredicateType: PredicateVSA, Predicate: []byte("not json")},
		{PredicateType: attest.PredicateSPDX, Predicate: []byte(`{}`)},
	}}
	got := Read(rep)
	if len(got) != 3 || got[0].Environment != "staging" || got[2].Time <= got[1].Time || got[0].Digest != d.String() {
		t.Errorf("Read = %+v, want three receipts oldest first", got)
	}
	if !Has(rep, "prod") || Has(rep, "dev") {
		t.Error("Has: prod has a receipt, dev has none")
	}
	if amis := AMIs(rep, "prod"); amis["us-east-1"] != "ami-new" {
		t.Errorf("AMIs = %v, want the newest receipt's", amis)
	}
	if AMIs(rep, "staging") != nil {
		t.Error("staging's receipt records no AMIs")
	}
}

func hex64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
