package receipt

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/attest"
)

// FuzzRead feeds the receipt reader arbitrary predicates: whatever it
// returns is bound to the target, an environment's repository and the digest.
func FuzzRead(f *testing.F) {
	d := v1.Hash{Algorithm: "sha256", Hex: "aa"}
	f.Add([]byte(`{"timeVerified":"2026-01-01T00:00:00Z","resourceUri":"r/prod/app@sha256:aa","verificationResult":"PASSED","bakery":{"action":"promote","target":"app","environment":"prod"}}`))
	f.Add([]byte(`{"resourceUri":"r/prod/other@sha256:aa","bakery":{"target":"other","environment":"prod"}}`))
	f.Add([]byte(`{"timeVerified":"not a time"}`))
	f.Add([]byte(`null`))
	bind := Binding{Target: "app", Repositories: map[string]string{"prod": "r/prod/app", "staging": "r/staging/app"}}
	f.Fuzz(func(t *testing.T, predicate []byte) {
		rep := &attest.Report{Digest: d, Attestations: []attest.AttestationInfo{{PredicateType: PredicateVSA, Predicate: predicate}}}
		for _, r := range Read(rep, bind) {
			if r.Target != "app" || r.Repository != bind.Repositories[r.Environment] || r.Digest != d.String() {
				t.Fatalf("an unbound receipt was read: %+v", r)
			}
		}
		_ = Has(rep, bind, "prod")
		_ = AMIs(rep, bind, "prod")
	})
}
