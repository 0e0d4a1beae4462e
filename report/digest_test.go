package report

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
)

// TestProvenanceParameters: the report shows a container's source, args
// and secret ids and a machine image's variables; external parameters of
// the wrong type are a verification failure, not a panic nor a part left out.
func TestProvenanceParameters(t *testing.T) {
	rep := func(buildType, params string) *attest.Report {
		return &attest.Report{Reference: "r@sha256:aa", Attestations: []attest.AttestationInfo{{PredicateType: attest.PredicateSLSAv1,
			Predicate: json.RawMessage(`{"buildDefinition":{"buildType":"` + buildType + `","externalParameters":` + params + `}}`)}}}
	}
	p, err := provenance(rep(attest.BuildTypeContainer, `{"args":{"V":"1"},"dockerfile":{"path":"Dockerfile"},`+
		`"source":{"uri":"u","commit":"c","dirty":true},"target":{"name":"app","secrets":[{"id":"npm","source":"file"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Source, &builders.Source{URI: "u", Commit: "c", Dirty: true}) || !reflect.DeepEqual(p.Args, map[string]string{"V": "1"}) ||
		!reflect.DeepEqual(p.Secrets, []Secret{{ID: "npm", Source: "file"}}) {
		t.Errorf("container: %+v", p)
	}
	if p, err = provenance(rep(attest.BuildTypeMachineImg, `{"target":"golden-ami","variables":{"region":"eu"}}`)); err != nil ||
		!reflect.DeepEqual(p.Args, map[string]string{"region": "eu"}) || p.Source != nil {
		t.Errorf("machine image: %+v, %v", p, err)
	}
	for _, params := range []string{`{"target":"app"}`, `{"target":true}`, `{"target":{},"source":"git"}`, `{"target":{"secrets":"npm"}}`, `[]`} {
		if _, err := provenance(rep(attest.BuildTypeContainer, params)); failure.ClassOf(err) != failure.Verify {
			t.Errorf("%s: %v (class %v), want a verification failure", params, err, failure.ClassOf(err))
		}
	}
}
