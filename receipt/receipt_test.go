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
	bind := Binding{Target: "app", Repositories: map[string]string{"staging": "r/staging/app", "prod": "r/prod/app"}}
	at := func(env, action string, when time.Time, amis map[string]string) attest.AttestationInfo {
		b, err := json.Marshal(VSA{TimeVerified: when, VerificationResult: Passed, ResourceURI: bind.Repositories[env] + "@" + d.String(),
			Bakery: Metadata{Action: action, Target: "app", Environment: env, AMIs: amis}})
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
	got := Read(rep, bind)
	if len(got) != 3 || got[0].Environment != "staging" || got[2].Time <= got[1].Time || got[0].Digest != d.String() {
		t.Errorf("Read = %+v, want three receipts oldest first", got)
	}
	if !Has(rep, bind, "prod") || Has(rep, bind, "dev") {
		t.Error("Has: prod has a receipt, dev has none")
	}
	if amis := AMIs(rep, bind, "prod"); amis["us-east-1"] != "ami-new" {
		t.Errorf("AMIs = %v, want the newest receipt's", amis)
	}
	if AMIs(rep, bind, "staging") != nil {
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

// TestReadBindsTargetRepositoryAndDigest: a receipt counts only for the
// target, the environment's repository and the digest it names.
func TestReadBindsTargetRepositoryAndDigest(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: hex64('d')}
	bind := Binding{Target: "b", Repositories: map[string]string{"staging": "r/staging/b"}}
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	receiptFor := func(target, uri string) attest.AttestationInfo {
		b, err := json.Marshal(VSA{TimeVerified: when, VerificationResult: Passed, ResourceURI: uri,
			Bakery: Metadata{Action: ActionPromote, Target: target, Environment: "staging"}})
		if err != nil {
			t.Fatal(err)
		}
		return attest.AttestationInfo{PredicateType: PredicateVSA, Predicate: b}
	}
	for name, a := range map[string]attest.AttestationInfo{
		"another target's receipt, copied along":   receiptFor("a", "r/staging/a@"+d.String()),
		"names b but was issued in a's repository": receiptFor("b", "r/staging/a@"+d.String()),
		"names b's repository but another digest":  receiptFor("b", "r/staging/b@sha256:"+hex64('0')),
		"an environment the config does not have":  receiptFor("b", "r/qa/b@"+d.String()),
	} {
		rep := &attest.Report{Digest: d, Attestations: []attest.AttestationInfo{a}}
		if got := Read(rep, bind); len(got) != 0 || Has(rep, bind, "staging") {
			t.Errorf("%s: counted (%+v)", name, got)
		}
	}
	good := &attest.Report{Digest: d, Attestations: []attest.AttestationInfo{receiptFor("b", "r/staging/b@"+d.String())}}
	if got := Read(good, bind); len(got) != 1 || got[0].Target != "b" || got[0].Repository != "r/staging/b" || !Has(good, bind, "staging") {
		t.Errorf("the bound receipt: %+v", got)
	}
}

// TestReadOrdersBySubSecondTime: times within one second are ordered as
// times, not as strings ("…05.1Z" sorts after "…05.12Z" as a string).
func TestReadOrdersBySubSecondTime(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: hex64('d')}
	bind := Binding{Target: "app", Repositories: map[string]string{"prod": "r/prod/app"}}
	base := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	var atts []attest.AttestationInfo
	for _, ns := range []int{120_000_000, 100_000_000, 0} {
		b, err := json.Marshal(VSA{TimeVerified: base.Add(time.Duration(ns)), VerificationResult: Passed, ResourceURI: "r/prod/app@" + d.String(),
			Bakery: Metadata{Action: ActionPromote, Target: "app", Environment: "prod"}})
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, attest.AttestationInfo{PredicateType: PredicateVSA, Predicate: b})
	}
	got := Read(&attest.Report{Digest: d, Attestations: atts}, bind)
	if len(got) != 3 || got[0].Time >= got[1].Time || got[1].Time >= got[2].Time || got[2].Time != "2026-01-01T00:00:05.120000000Z" {
		t.Errorf("order %+v", got)
	}
}
