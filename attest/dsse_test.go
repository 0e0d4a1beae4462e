package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// TestVerifiesDSSEAgreesWithTheLibrary: verifiesDSSE, which streams PAE
// from the body decoded once, says what the DSSE library's envelope
// verifier (the one cosign verify-attestation uses) says, envelope by
// envelope, good and forged.
func TestVerifiesDSSEAgreesWithTheLibrary(t *testing.T) {
	ctx := context.Background()
	newKey := func() signature.SignerVerifier {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}
	trusted, other := newKey(), newKey()
	pub, err := trusted.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := ssldsse.SHA256KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"` + PredicateSPDX +
		`","subject":[{"name":"r/x","digest":{"sha256":"aa"}}],"predicate":{"spdxVersion":"SPDX-2.3","name":"` + strings.Repeat("x", 70000) + `"}}`)
	sign := func(sv signature.Signer, payloadType string, body []byte, enc *base64.Encoding) string {
		sig, err := sv.SignMessage(bytes.NewReader(ssldsse.PAE(payloadType, body)))
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeToString(sig)
	}
	std := base64.StdEncoding
	payload := std.EncodeToString(body)
	good := sign(trusted, types.IntotoPayloadType, body, std)
	sig := func(keyID, s string) ssldsse.Signature { return ssldsse.Signature{KeyID: keyID, Sig: s} }
	cases := []struct {
		name string
		e    ssldsse.Envelope
		want bool
	}{
		{"signed by the key", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload, Signatures: []ssldsse.Signature{sig("", good)}}, true},
		{"signed by another key", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload,
			Signatures: []ssldsse.Signature{sig("", sign(other, types.IntotoPayloadType, body, std))}}, false},
		{"no signature", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload}, false},
		{"the second signature is the key's", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload,
			Signatures: []ssldsse.Signature{sig("", sign(other, types.IntotoPayloadType, body, std)), sig("", good)}}, true},
		{"keyid names the key", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload, Signatures: []ssldsse.Signature{sig(keyID, good)}}, true},
		{"keyid names another key", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload, Signatures: []ssldsse.Signature{sig("SHA256:other", good)}}, false},
		{"another signature is not base64", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload,
			Signatures: []ssldsse.Signature{sig("", good), sig("", "!!")}}, false},
		{"signature in URL base64", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: payload,
			Signatures: []ssldsse.Signature{sig("", sign(trusted, types.IntotoPayloadType, body, base64.URLEncoding))}}, true},
		{"payload changed after signing", ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: std.EncodeToString(append(body[:len(body):len(body)], ' ')),
			Signatures: []ssldsse.Signature{sig("", good)}}, false},
		{"payload type changed after signing", ssldsse.Envelope{PayloadType: "application/json", Payload: payload, Signatures: []ssldsse.Signature{sig("", good)}}, false},
		{"signed with another payload type", ssldsse.Envelope{PayloadType: "application/json", Payload: payload,
			Signatures: []ssldsse.Signature{sig("", sign(trusted, "application/json", body, std))}}, true},
	}
	lib, err := ssldsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: trusted, Pub: pub})
	if err != nil {
		t.Fatal(err)
	}
	k := TrustedKey{ID: "trusted", Verifier: trusted}
	for _, c := range cases {
		layer, err := json.Marshal(c.e)
		if err != nil {
			t.Fatal(err)
		}
		e, err := readEnvelope(layer)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := verifiesDSSE(ctx, k, e)
		_, libErr := lib.Verify(ctx, &c.e)
		if got != c.want || (libErr == nil) != c.want {
			t.Errorf("%s: bakery says %v, the library says %v (%v), want %v", c.name, got, libErr == nil, libErr, c.want)
		}
	}

	// The one place the two read differently: a payload in URL base64. The
	// library's verifier accepts its signature; bakery refuses the statement
	// (as it always has: in-toto payloads are standard base64), so the
	// attestation counts for nothing either way.
	urlBody := []byte(`{"predicateType":"` + PredicateSPDX + `","subject":[],"predicate":{"a":"???>>>"}}`)
	urlEnv, err := json.Marshal(ssldsse.Envelope{PayloadType: types.IntotoPayloadType, Payload: base64.URLEncoding.EncodeToString(urlBody),
		Signatures: []ssldsse.Signature{sig("", sign(trusted, types.IntotoPayloadType, urlBody, std))}})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := readStatement(urlEnv); err == nil {
		t.Errorf("a payload in URL base64 read as %+v", info)
	}
}
