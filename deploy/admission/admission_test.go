package admission

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cosignrego "github.com/sigstore/cosign/v2/pkg/cosign/rego"
	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

const (
	repo    = "127.0.0.1:5000/prod/app"
	good    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	revoked = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	later   = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	// repoDigest sorts after the others; its revocation's time does not parse.
	repoDigest = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	testPEM    = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
)

func testPolicy() Policy {
	return Policy{
		Environment: "prod",
		Targets: []Target{{Name: "app", Repository: repo, Receipted: []string{good, revoked, later},
			Repositories: map[string]string{"dev": "127.0.0.1:5000/dev/app", "staging": "127.0.0.1:5000/staging/app", "prod": repo}}},
		Keys: []string{testPEM},
		Revoked: []Revocation{
			{Digest: revoked, EffectiveAt: "2026-01-01T00:00:00Z"},
			{Digest: later, EffectiveAt: time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)},
		},
	}
}

// statement is a receipt's in-toto statement as policy-controller hands it
// to the attestation's policy.
func statement(digest string, edit func(vsa map[string]any)) []byte {
	vsa := map[string]any{
		"verifier":           map[string]any{"id": receipt.VerifierID},
		"resourceUri":        repo + "@" + digest,
		"verificationResult": "PASSED",
		"bakery":             map[string]any{"action": "promote", "target": "app", "environment": "prod"},
	}
	if edit != nil {
		edit(vsa)
	}
	b, _ := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v0.1", "predicateType": receipt.PredicateVSA,
		"subject":   []any{map[string]any{"name": repo, "digest": map[string]any{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
		"predicate": vsa,
	})
	return b
}

// documents renders f and decodes its YAML documents.
func documents(t *testing.T, f Format, p Policy) []map[string]any {
	t.Helper()
	body, err := f.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(body)))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs = append(docs, d)
	}
	return docs
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// evaluate runs a policy as policy-controller does (cosign's
// pkg/policy.EvaluatePolicyAgainstJSON, type rego, calls exactly this).
func evaluate(rego string, input []byte) (warn, err error) {
	return cosignrego.ValidateJSONWithModuleInput(input, rego)
}

// TestPolicyControllerReceiptPolicy runs the written attestation policy the
// way policy-controller does (cosign's evaluator, Rego v0) on receipts and
// forgeries of each binding.
func TestPolicyControllerReceiptPolicy(t *testing.T) {
	docs := documents(t, PolicyController{}, testPolicy())
	if len(docs) != 1 {
		t.Fatalf("%d documents, want one ClusterImagePolicy per target", len(docs))
	}
	cip := docs[0]
	if cip["kind"] != "ClusterImagePolicy" || dig(cip, "metadata", "name") != "bakery-prod-app" {
		t.Fatalf("not the ClusterImagePolicy of prod/app: %v", cip["metadata"])
	}
	if g := dig(cip, "spec", "images"); len(g.([]any)) != 6 || dig(g, 2, "glob") != repo+"@*" || dig(g, 3, "glob") != repo+":*" {
		t.Errorf("images: %v", g)
	}
	auth := dig(cip, "spec", "authorities", 0)
	if dig(auth, "key", "data") != testPEM {
		t.Errorf("the authority's key is not the trusted key: %v", dig(auth, "key"))
	}
	att := dig(auth, "attestations", 0)
	if dig(att, "predicateType") != receipt.PredicateVSA {
		t.Errorf("predicateType %v", dig(att, "predicateType"))
	}
	rego := dig(att, "policy", "data").(string)
	cases := []struct {
		name   string
		digest string
		edit   func(map[string]any)
		want   string // "" admits
	}{
		{"the prod receipt", good, nil, ""},
		{"a receipt for staging", good, func(v map[string]any) { v["bakery"].(map[string]any)["environment"] = "staging" }, "environment staging, not prod"},
		{"a receipt for another target", good, func(v map[string]any) { v["bakery"].(map[string]any)["target"] = "web" }, "target web, not app"},
		{"a receipt naming another repository", good, func(v map[string]any) { v["resourceUri"] = "127.0.0.1:5000/staging/app@" + good }, "is not " + repo},
		{"a receipt naming another digest", good, func(v map[string]any) { v["resourceUri"] = repo + "@" + later }, "is not " + repo},
		{"a receipt that did not pass", good, func(v map[string]any) { v["verificationResult"] = "FAILED" }, "FAILED, not PASSED"},
		{"another verifier", good, func(v map[string]any) { v["verifier"] = map[string]any{"id": "https://evil.example"} }, "verifier is https://evil.example"},
		{"no bakery fields", good, func(v map[string]any) { delete(v, "bakery") }, "environment missing"},
		{"no verifier", good, func(v map[string]any) { delete(v, "verifier") }, "verifier is missing"},
		{"a revoked digest", revoked, nil, revoked + " is revoked"},
		{"a revocation scheduled for later", later, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warn, err := evaluate(rego, statement(c.digest, c.edit))
			if c.want == "" {
				if err != nil || warn != nil {
					t.Fatalf("refused: %v %v", err, warn)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	var other map[string]any
	_ = json.Unmarshal(statement(good, nil), &other)
	other["predicateType"] = "https://slsa.dev/provenance/v1"
	b, _ := json.Marshal(other)
	if _, err := evaluate(rego, b); err == nil || !strings.Contains(err.Error(), "not a bakery receipt") {
		t.Errorf("another predicate type: %v", err)
	}
	// Two subjects, the resourceUri naming the other one: the image is the
	// first (policy-controller matched it), the receipt is about the second.
	var two map[string]any
	_ = json.Unmarshal(statement(later, nil), &two)
	two["subject"] = append([]any{map[string]any{"name": repo, "digest": map[string]any{"sha256": strings.TrimPrefix(good, "sha256:")}}}, two["subject"].([]any)...)
	b, _ = json.Marshal(two)
	if _, err := evaluate(rego, b); err == nil || !strings.Contains(err.Error(), "more than one subject") {
		t.Errorf("two subjects: %v", err)
	}
}

// TestPolicyControllerRefusesTags runs the ClusterImagePolicy's own policy
// on workload specs (includeSpec).
func TestPolicyControllerRefusesTags(t *testing.T) {
	cip := documents(t, PolicyController{}, testPolicy())[0]
	if dig(cip, "spec", "policy", "includeSpec") != true {
		t.Fatal("the policy does not see the workload's spec")
	}
	rego := dig(cip, "spec", "policy", "data").(string)
	for _, c := range []struct {
		spec string
		want string
	}{
		{`{"containers":[{"name":"a","image":"` + repo + `@` + good + `"}]}`, ""},
		{`{"containers":[{"name":"a","image":"` + repo + `:prod"}]}`, repo + ":prod: name the image by digest"},
		{`{"initContainers":[{"name":"i","image":"` + repo + `"}],"containers":[{"name":"a","image":"` + repo + `@` + good + `"}]}`, repo + ": name the image by digest"},
		{`{"template":{"spec":{"containers":[{"name":"a","image":"` + repo + `:v1"}]}}}`, repo + ":v1"},
		{`{"containers":[{"name":"a","image":"127.0.0.1:5000/prod/app-other:latest"}]}`, ""},
		{`{"containers":[{"name":"a","image":"127.0.0.1:5000/staging/app@` + good + `"}]}`, "pull the image from " + repo},
		{`null`, ""},
	} {
		in := `{"authorityMatches":{},"spec":` + c.spec + `}`
		_, err := evaluate(rego, []byte(in))
		if c.want == "" && err != nil {
			t.Errorf("%s: refused: %v", c.spec, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.spec, err, c.want)
		}
	}
}

// TestKyvernoPolicy checks what the Kyverno ClusterPolicy admits: only the
// receipted digests not revoked, with each receipt's binding checked (the
// Kyverno CLI runs it for real in e2e/admission_test.go).
func TestKyvernoPolicy(t *testing.T) {
	docs := documents(t, Kyverno{}, testPolicy())
	if len(docs) != 1 || docs[0]["kind"] != "ClusterPolicy" {
		t.Fatalf("want one ClusterPolicy, got %d documents", len(docs))
	}
	rules := dig(docs[0], "spec", "rules").([]any)
	if len(rules) != 2 {
		t.Fatalf("%d rules, want two for one target", len(rules))
	}
	vi := dig(rules[0], "verifyImages", 0)
	if dig(vi, "mutateDigest") != false || dig(vi, "verifyDigest") != true || dig(vi, "required") != true {
		t.Errorf("verifyImages must refuse tags and never rewrite them: %v", vi)
	}
	refs := dig(vi, "imageReferences").([]any)
	if len(refs) != 6 {
		t.Errorf("imageReferences %v: want the target's repository in every environment, by digest and by tag", refs)
	}
	if dig(vi, "attestations", 0, "attestors", 0, "entries", 0, "keys", "publicKeys") != testPEM {
		t.Error("the attestor is not the trusted key")
	}
	conds, _ := json.Marshal(dig(vi, "attestations", 0, "conditions"))
	for _, want := range []string{"verifier.id", receipt.VerifierID, "verificationResult", "bakery.target", "resourceUri", "127.0.0.1:5000/staging/app"} {
		if !strings.Contains(string(conds), want) {
			t.Errorf("conditions lack %q: %s", want, conds)
		}
	}
	foreach := dig(rules[1], "validate", "foreach").([]any)
	allowed := dig(foreach[0], "deny", "conditions", "all", 0, "value").([]any)
	if len(allowed) != 2 || allowed[0] != repo+"@"+good || allowed[1] != repo+"@"+later {
		t.Errorf("admitted digests %v: want the receipted ones less the revoked one", allowed)
	}
	if len(foreach) != 2 || !strings.Contains(dig(foreach[1], "deny", "conditions", "all", 0, "key").(string), later) {
		t.Errorf("the scheduled revocation of %s is not denied from its time: %v", later, foreach)
	}
}

func TestRevokedListsWhatIsRevokedNowOrLater(t *testing.T) {
	set := revoke.Union(nil, nil)
	set.Exclude(revoke.Entry{Digest: good, Action: revoke.ActionRevoke, Time: "2026-01-01T00:00:00.000000000Z", EffectiveAt: "2026-01-01T00:00:00.000000000Z"})
	set.Exclude(revoke.Entry{Digest: good, Action: revoke.ActionRestore, Time: "2026-01-02T00:00:00.000000000Z", EffectiveAt: "2026-01-02T00:00:00.000000000Z"})
	set.Exclude(revoke.Entry{Digest: revoked, Action: revoke.ActionRevoke, Time: "2026-01-03T00:00:00.000000000Z", EffectiveAt: "2026-01-03T00:00:00.000000000Z"})
	set.Exclude(revoke.Entry{Digest: later, Action: revoke.ActionRevoke, Time: "2026-01-03T00:00:00.000000000Z", EffectiveAt: "2099-01-01T00:00:00.000000000Z"})
	set.Exclude(revoke.Entry{Digest: repoDigest, Action: revoke.ActionRevoke, Time: "2026-01-04T00:00:00.000000000Z", EffectiveAt: "soon"})
	got := Revoked(set)
	want := []Revocation{{Digest: revoked, EffectiveAt: "2026-01-03T00:00:00Z"}, {Digest: later, EffectiveAt: "2099-01-01T00:00:00Z"},
		{Digest: repoDigest, EffectiveAt: "1970-01-01T00:00:00Z"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Revoked = %v, want %v (a restored digest is not listed)", got, want)
	}
	if Revoked(nil) != nil {
		t.Error("no list: nothing revoked")
	}
}

func TestWriteLeavesAnUnchangedFileAlone(t *testing.T) {
	dir := t.TempDir()
	formats := []Format{PolicyController{}, Kyverno{}}
	changed, err := Write(dir, testPolicy(), formats)
	if err != nil || len(changed) != 2 {
		t.Fatalf("first write: %v %v", changed, err)
	}
	path := filepath.Join(dir, "prod-policy-controller.yaml")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	changed, err = Write(dir, testPolicy(), formats)
	if err != nil || len(changed) != 0 {
		t.Fatalf("second write changed %v (%v)", changed, err)
	}
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(old) {
		t.Error("an unchanged file was rewritten")
	}
	p := testPolicy()
	p.Revoked = nil
	if changed, err = Write(dir, p, formats); err != nil || len(changed) != 2 {
		t.Fatalf("a new revocation list must rewrite both: %v %v", changed, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if got := Existing(dir, "prod"); len(got) != 2 {
		t.Errorf("Existing = %v", got)
	}
	if got := Existing(dir, "staging"); len(got) != 0 {
		t.Errorf("Existing(staging) = %v", got)
	}
}

func TestLookupNamesTheFormats(t *testing.T) {
	if _, err := Lookup("gatekeeper"); err == nil || !strings.Contains(err.Error(), "kyverno, policy-controller") {
		t.Errorf("Lookup(gatekeeper) = %v", err)
	}
	if resourceName("bakery", "Prod", "my_app.v2") != "bakery-prod-my-app-v2" {
		t.Errorf("resourceName = %q", resourceName("bakery", "Prod", "my_app.v2"))
	}
}
