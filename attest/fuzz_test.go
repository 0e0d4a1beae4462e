package attest

import (
	"encoding/base64"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/types"
)

// FuzzStatement feeds the DSSE envelope and in-toto statement reader
// arbitrary attestation layers: it returns an error or a statement whose
// predicate type is the one the layer claims, and never panics.
func FuzzStatement(f *testing.F) {
	stmt := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"name":"r/x","digest":{"sha256":"aa"}}],"predicate":{"spdxVersion":"SPDX-2.3"}}`
	env := `{"payloadType":"` + types.IntotoPayloadType + `","payload":"` + base64.StdEncoding.EncodeToString([]byte(stmt)) + `","signatures":[]}`
	f.Add([]byte(env), PredicateSPDX)
	f.Add([]byte(env), PredicateSLSAv1)
	f.Add([]byte(`{"payloadType":"text/plain","payload":"e30="}`), "")
	f.Add([]byte(`not json`), PredicateSPDX)
	f.Fuzz(func(t *testing.T, envelope []byte, claimed string) {
		info, err := checkStatement(envelope, claimed)
		if err == nil && info.PredicateType != claimed {
			t.Fatalf("accepted a statement of type %q in a layer claiming %q", info.PredicateType, claimed)
		}
	})
}

// FuzzPackageTable feeds the SPDX and CycloneDX reader behind
// `bakery sbom --format table` arbitrary documents.
func FuzzPackageTable(f *testing.F) {
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"bash","versionInfo":"5.2","licenseDeclared":"GPL-3.0-or-later"}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"bash","version":"5.2"}]}`))
	f.Add([]byte(`{"packages":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = PrintPackageTable(discard{}, doc)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
