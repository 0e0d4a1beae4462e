package attest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/types"
)

// TestStatementReaderIsStrict: the one-pass reader of envelopes and
// statements refuses what could make two JSON readers disagree about what
// was signed: a duplicate name, names in another case, data after the
// object, invalid UTF-8.
func TestStatementReaderIsStrict(t *testing.T) {
	stmt := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"` + PredicateSPDX + `","subject":[{"name":"r/x","digest":{"sha256":"aa"}}],"predicate":{"spdxVersion":"SPDX-2.3"}}`
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	env := func(payload string) string {
		return `{"payloadType":"` + types.IntotoPayloadType + `","payload":"` + b64(payload) + `","signatures":[{"keyid":"","sig":"c2ln"}]}`
	}
	info, err := checkStatement([]byte(env(stmt)), PredicateSPDX)
	if err != nil || info.PredicateType != PredicateSPDX || len(info.Subjects) != 1 || info.Subjects[0] != "r/x@sha256:aa" ||
		string(info.Predicate) != `{"spdxVersion":"SPDX-2.3"}` {
		t.Fatalf("a good statement: %+v, %v", info, err)
	}
	for name, bad := range map[string]string{
		"duplicate payload":              strings.Replace(env(stmt), `"signatures"`, `"payload":"`+b64(`{}`)+`","signatures"`, 1),
		"duplicate predicate type":       env(strings.Replace(stmt, `"subject"`, `"predicateType":"x","subject"`, 1)),
		"payload named in another case":  strings.Replace(env(stmt), `"payload":`, `"Payload":`, 1),
		"data after the envelope":        env(stmt) + `{}`,
		"data after the statement":       env(stmt + ` []`),
		"invalid UTF-8 in the statement": env(strings.Replace(stmt, "SPDX-2.3", "SPDX-\xff", 1)),
		"empty predicate":                env(strings.Replace(stmt, `{"spdxVersion":"SPDX-2.3"}`, `null`, 1)),
	} {
		if info, err := checkStatement([]byte(bad), PredicateSPDX); err == nil {
			t.Errorf("%s: accepted as %+v", name, info)
		}
	}
}
