package attest

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/types"

	"github.com/bakeryhq/bakery/builders"
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

// FuzzProvenance feeds the provenance reader (rebuild, report and inspect
// read a verified predicate with it) arbitrary predicates: it returns an
// error or parameters of the shape the build type says, which encode and
// read back to the same bytes, and never panics.
func FuzzProvenance(f *testing.F) {
	f.Add(provenanceOf(BuildTypeContainer, `{"args":{"V":"1"},"context":{"digest":{"sha256":"c0"},"path":"app"},`+
		`"dockerfile":{"digest":{"sha256":"d0"},"path":"Dockerfile"},"source":{"uri":"u","commit":"c","dirty":true},`+
		`"target":{"cache_from":null,"cache_to":null,"context":"app","dockerfile":"Dockerfile","labels":null,"name":"app",`+
		`"platforms":["linux/amd64"],"secrets":[{"id":"npm","source":"file"}],"stage":"","type":"dockerfile"}}`))
	f.Add(provenanceOf(BuildTypeMachineImg, `{"artifactId":"ami-1","buildName":"b","builderType":"bakery-chroot",`+
		`"only":["x"],"target":"golden-ami","template":{"digest":{"sha256":"t0"},"path":"g.pkr.hcl"},"variables":{"a":"b"}}`))
	f.Add(provenanceOf(BuildTypeContainer, `{"target":"app"}`))
	f.Add(provenanceOf(BuildTypeContainer, `{"target":{"secrets":{"id":1}},"revokedBaseOverride":{"digest":"sha256:aa","reason":"r"}}`))
	f.Add(provenanceOf("https://mobyproject.org/buildkit@v1", `{"request":{}}`))
	f.Add([]byte(`{"buildDefinition":{"externalParameters":null}}`))
	f.Fuzz(func(t *testing.T, pred []byte) {
		p, err := ReadProvenance("r@sha256:aa", pred)
		if err != nil {
			return
		}
		params := p.BuildDefinition.ExternalParameters
		if want := map[string]builders.Kind{BuildTypeContainer: builders.Container, BuildTypeMachineImg: builders.MachineImage}[p.BuildDefinition.BuildType]; want != "" && params.Kind() != "" && params.Kind() != want {
			t.Fatalf("read parameters of a %s under build type %s", params.Kind(), p.BuildDefinition.BuildType)
		}
		once, err := json.Marshal(params)
		if err != nil {
			t.Fatalf("read %+v, which does not encode: %v", params, err)
		}
		var back builders.Parameters
		if err := json.Unmarshal(once, &back); err != nil {
			t.Fatalf("%s does not read back: %v", once, err)
		}
		if twice, _ := json.Marshal(back); back.Kind() != params.Kind() || string(twice) != string(once) {
			t.Fatalf("encoded %s, read back as %s", once, twice)
		}
	})
}
