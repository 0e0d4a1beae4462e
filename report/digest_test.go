package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
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

// TestDigestPageKeepsEveryReceipt: after prod was rolled back from B to A,
// B's page (B still runs in dev and staging) keeps its prod receipt, marked
// as an environment B no longer runs in, and A's page keeps its dev and
// staging receipts the same way, next to prod's promotion and rollback.
func TestDigestPageKeepsEveryReceipt(t *testing.T) {
	f := newFixture(t)
	f.populate(t)
	inStaging := f.repo(t, "staging", "base").Digest(f.imageB.DigestStr())
	f.promote(t, inStaging, "base", "staging", "prod")
	inProd := f.repo(t, "prod", "base").Digest(f.imageA.DigestStr())
	meta := receipt.Metadata{Action: receipt.ActionRollback, Target: "base", Environment: "prod", Reason: "INC-7"}
	if err := receipt.Sign(f.ctx, f.trusted, inProd, meta, "", "test", nil); err != nil {
		t.Fatal(err)
	}
	f.tag(t, inProd, "prod")

	r, err := Gather(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)})
	if err != nil {
		t.Fatal(err)
	}
	chain := func(d *Digest) []string {
		var out []string
		for _, rc := range d.Receipts {
			out = append(out, fmt.Sprintf("%s %s current=%v", rc.Environment, rc.Action, rc.Current))
		}
		return out
	}
	b := digestOf(t, r, "base", f.imageB.DigestStr())
	want := []string{"dev build current=true", "staging promote current=true", "prod promote current=false"}
	if got := chain(b); !slices.Equal(got, want) || !slices.Equal(b.Environments, []string{"dev", "staging"}) {
		t.Errorf("B's receipts (B runs in %v):\n%s\nwant:\n%s", b.Environments, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a := digestOf(t, r, "base", f.imageA.DigestStr())
	want = []string{"dev build current=false", "staging promote current=false", "prod promote current=true", "prod rollback current=true"}
	if got := chain(a); !slices.Equal(got, want) {
		t.Errorf("A's receipts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	w, err := Write(t.TempDir(), r, "test")
	if err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(w.Dir, b.Page))
	if !strings.Contains(page, `<tr data-env="prod" data-current="false"><td>prod</td><td><span class="muted">no longer</span>`) ||
		strings.Count(page, `data-current="true"`) != 2 {
		t.Errorf("B's page does not show its prod receipt as one of an environment it no longer runs in")
	}
}
