package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/receipt"
)

// PolicyController writes one sigstore policy-controller ClusterImagePolicy
// per target. policy-controller verifies each attestation's signature with
// the authorities' keys and that its in-toto subject is the admitted digest;
// the attestation's Rego (run on every receipt, passing when one does)
// requires a bakery receipt for this environment and target whose
// resourceUri is the environment's repository at that digest, and that the
// digest is not revoked. The policy's own Rego, given the workload's spec,
// refuses the target's images named by tag.
type PolicyController struct{}

// Name implements Format.
func (PolicyController) Name() string { return "policy-controller" }

type cip struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       cipSpec  `yaml:"spec"`
}

type metadata struct {
	Name        string            `yaml:"name"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type cipSpec struct {
	Images      []cipGlob      `yaml:"images"`
	Authorities []cipAuthority `yaml:"authorities"`
	Policy      *cipPolicy     `yaml:"policy,omitempty"`
}

type cipGlob struct {
	Glob string `yaml:"glob"`
}

type cipAuthority struct {
	Name         string           `yaml:"name"`
	Key          cipKey           `yaml:"key"`
	Attestations []cipAttestation `yaml:"attestations"`
}

type cipKey struct {
	Data          string `yaml:"data"`
	HashAlgorithm string `yaml:"hashAlgorithm"`
}

type cipAttestation struct {
	Name          string    `yaml:"name"`
	PredicateType string    `yaml:"predicateType"`
	Policy        cipPolicy `yaml:"policy"`
}

type cipPolicy struct {
	Type        string `yaml:"type"`
	IncludeSpec *bool  `yaml:"includeSpec,omitempty"`
	Data        string `yaml:"data"`
}

// Render implements Format: a ClusterImagePolicy per target, as YAML
// documents.
func (PolicyController) Render(p Policy) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by `bakery admission --env %s --format policy-controller`: sigstore policy-controller\n", p.Environment)
	fmt.Fprintf(&buf, "# admits an image of these targets only by digest, with a bakery receipt for %s signed by a\n", p.Environment)
	buf.WriteString("# trusted key, bound to the environment's repository, and not revoked. Regenerate it; do not edit it.\n")
	for i, t := range p.Targets {
		receiptRego, err := execute(receiptRegoTemplate, regoData(p, t))
		if err != nil {
			return nil, err
		}
		tagRego, err := execute(tagRegoTemplate, specData(p, t))
		if err != nil {
			return nil, err
		}
		yes := true
		doc := cip{
			APIVersion: "policy.sigstore.dev/v1beta1",
			Kind:       "ClusterImagePolicy",
			Metadata: metadata{
				Name: resourceName("bakery", p.Environment, t.Name),
				Annotations: map[string]string{
					"bakery.dev/environment": p.Environment,
					"bakery.dev/target":      t.Name,
					"bakery.dev/repository":  t.Repository,
				},
			},
			Spec: cipSpec{
				Images: globs(targetRepos(t)),
				Policy: &cipPolicy{Type: "rego", IncludeSpec: &yes, Data: tagRego},
			},
		}
		for i, k := range p.Keys {
			doc.Spec.Authorities = append(doc.Spec.Authorities, cipAuthority{
				Name: fmt.Sprintf("bakery-key-%d", i+1),
				Key:  cipKey{Data: k, HashAlgorithm: "sha256"},
				Attestations: []cipAttestation{{
					Name: "receipt", PredicateType: receipt.PredicateVSA,
					Policy: cipPolicy{Type: "rego", Data: receiptRego},
				}},
			})
		}
		if i > 0 { // the header comment belongs to the first document: a comment-only document is refused by policy-controller
			buf.WriteString("---\n")
		}
		if err := encodeYAML(&buf, doc); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// globs match the target's images in every environment's repository, by
// digest and by tag: an image of the target pulled from another
// environment's repository, or named by tag, is refused by this policy
// rather than left to none.
func globs(repos []string) []cipGlob {
	var out []cipGlob
	for _, r := range repos {
		out = append(out, cipGlob{Glob: r + "@*"}, cipGlob{Glob: r + ":*"})
	}
	return out
}

func encodeYAML(buf *bytes.Buffer, v any) error {
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

type regoValues struct {
	Environment, Target, Repository, Verifier, PredicateType, Passed string
	Revocations                                                      string
}

func regoData(p Policy, t Target) regoValues {
	revs := p.Revoked
	if revs == nil {
		revs = []Revocation{}
	}
	b, _ := json.Marshal(revs) // plain strings: cannot fail
	return regoValues{
		Environment: quote(p.Environment), Target: quote(t.Name), Repository: quote(t.Repository),
		Verifier: quote(VerifierID), PredicateType: quote(receipt.PredicateVSA), Passed: quote(receipt.Passed),
		Revocations: string(b),
	}
}

// specValues are the workload policy's data: the environment's repository
// of the target, and its repositories in the other environments.
type specValues struct {
	Repository, Others string
}

func specData(p Policy, t Target) specValues {
	others := []string{}
	for _, r := range targetRepos(t) {
		if r != t.Repository {
			others = append(others, r)
		}
	}
	b, _ := json.Marshal(others) // strings: cannot fail
	return specValues{Repository: quote(t.Repository), Others: string(b)}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func execute(t *template.Template, v any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// receiptRegoTemplate is the Rego (v0, as policy-controller evaluates it)
// that one attestation must pass: input is its in-toto statement. Every
// check is written `not x == y`, so that a missing field fails it.
var receiptRegoTemplate = template.Must(template.New("receipt").Parse(`package sigstore

environment := {{.Environment}}
target := {{.Target}}
repository := {{.Repository}}
verifier := {{.Verifier}}
revocations := {{.Revocations}}

digests[d] {
  s := input.subject[_]
  d := concat(":", ["sha256", s.digest.sha256])
}

bound {
  d := digests[_]
  input.predicate.resourceUri == concat("@", [repository, d])
}

problem["it names more than one subject: a bakery receipt names exactly its digest"] {
  not count(input.subject) == 1
}

problem["it is not a bakery receipt (SLSA verification summary)"] {
  not input.predicateType == {{.PredicateType}}
}

problem[msg] {
  not input.predicate.verifier.id == verifier
  msg := sprintf("its verifier is %v, not bakery", [object.get(input.predicate, ["verifier", "id"], "missing")])
}

problem[msg] {
  not input.predicate.verificationResult == {{.Passed}}
  msg := sprintf("its verificationResult is %v, not PASSED", [object.get(input.predicate, "verificationResult", "missing")])
}

problem[msg] {
  not input.predicate.bakery.environment == environment
  msg := sprintf("it is a receipt for environment %v, not %v", [object.get(input.predicate, ["bakery", "environment"], "missing"), environment])
}

problem[msg] {
  not input.predicate.bakery.target == target
  msg := sprintf("it is a receipt for target %v, not %v", [object.get(input.predicate, ["bakery", "target"], "missing"), target])
}

problem[msg] {
  not bound
  msg := sprintf("its resourceUri %v is not %v at the image's digest", [object.get(input.predicate, "resourceUri", "missing"), repository])
}

problem[msg] {
  r := revocations[_]
  digests[r.digest]
  time.parse_rfc3339_ns(r.effectiveAt) <= time.now_ns()
  msg := sprintf("%v is revoked (since %v): bakery history shows why", [r.digest, r.effectiveAt])
}

isCompliant[response] {
  count(problem) == 0
  response := {"result": true}
}

isCompliant[response] {
  count(problem) > 0
  response := {"result": false, "error": sprintf("bakery receipt refused: %v", [concat("; ", problem)])}
}
`))

// tagRegoTemplate is the ClusterImagePolicy's own Rego: given the
// workload's spec (includeSpec), it refuses every image of the repository
// that is named by tag, not by digest, and every image of the target pulled
// from another environment's repository (whose attestations anyone who can
// push there controls, even when they are copies of the real receipts).
var tagRegoTemplate = template.Must(template.New("tags").Parse(`package sigstore

repository := {{.Repository}}
others := {{.Others}}

images[img] {
  walk(input.spec, [path, value])
  count(path) > 0
  path[count(path) - 1] == "image"
  is_string(value)
  img := value
}

ours(img) { img == repository }
ours(img) { startswith(img, concat("", [repository, ":"])) }
ours(img) { startswith(img, concat("", [repository, "@"])) }

tagged[img] {
  img := images[_]
  ours(img)
  not contains(img, "@sha256:")
}

elsewhere[img] {
  img := images[_]
  other := others[_]
  startswith(img, concat("", [other, "@"]))
}

elsewhere[img] {
  img := images[_]
  other := others[_]
  startswith(img, concat("", [other, ":"]))
}

problem[msg] {
  count(tagged) > 0
  msg := sprintf("%v: name the image by digest; bakery admits digests, never tags", [concat(", ", tagged)])
}

problem[msg] {
  count(elsewhere) > 0
  msg := sprintf("%v: pull the image from %v, this environment's repository", [concat(", ", elsewhere), repository])
}

isCompliant[response] {
  count(problem) == 0
  response := {"result": true}
}

isCompliant[response] {
  count(problem) > 0
  response := {"result": false, "error": concat("; ", problem)}
}
`))
