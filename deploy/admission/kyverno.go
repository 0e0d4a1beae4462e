package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/bakeryhq/bakery/receipt"
)

// Kyverno writes one Kyverno ClusterPolicy for the environment, with two
// rules per target.
//
// Kyverno checks an attestation's conditions on every attestation of the
// type and refuses when any one fails; it has no "at least one" (a digest
// in prod also carries its dev and staging receipts). So the conditions
// only check what every bakery receipt on the digest must say (signed by a
// trusted key, subject = the digest, bakery's verifier, PASSED, this target,
// resourceUri = the repository of the receipt's own environment at a
// digest), and the second rule admits only the digests bakery verified to
// hold a receipt for this environment when it wrote the file (Receipted),
// less the revoked ones. Write the file again after each promotion
// (`bakery admission`, or `--write-admission DIR`); a digest promoted since is
// refused until then, never the reverse.
type Kyverno struct{}

// Name implements Format.
func (Kyverno) Name() string { return "kyverno" }

type kyvernoPolicy struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   metadata          `yaml:"metadata"`
	Spec       kyvernoPolicySpec `yaml:"spec"`
}

type kyvernoPolicySpec struct {
	Background            bool          `yaml:"background"`
	WebhookTimeoutSeconds int           `yaml:"webhookTimeoutSeconds"`
	Rules                 []kyvernoRule `yaml:"rules"`
}

type kyvernoRule struct {
	Name         string               `yaml:"name"`
	Match        kyvernoMatch         `yaml:"match"`
	VerifyImages []kyvernoVerifyImage `yaml:"verifyImages,omitempty"`
	Validate     *kyvernoValidate     `yaml:"validate,omitempty"`
}

type kyvernoMatch struct {
	Any []kyvernoResourceFilter `yaml:"any"`
}

type kyvernoResourceFilter struct {
	Resources struct {
		Kinds []string `yaml:"kinds"`
	} `yaml:"resources"`
}

type kyvernoVerifyImage struct {
	ImageReferences []string             `yaml:"imageReferences"`
	FailureAction   string               `yaml:"failureAction"`
	MutateDigest    bool                 `yaml:"mutateDigest"`
	VerifyDigest    bool                 `yaml:"verifyDigest"`
	Required        bool                 `yaml:"required"`
	UseCache        bool                 `yaml:"useCache"`
	Attestations    []kyvernoAttestation `yaml:"attestations"`
}

type kyvernoAttestation struct {
	Type       string               `yaml:"type"`
	Attestors  []kyvernoAttestorSet `yaml:"attestors"`
	Conditions []kyvernoAnyAllConds `yaml:"conditions"`
}

type kyvernoAttestorSet struct {
	Count   int               `yaml:"count"`
	Entries []kyvernoAttestor `yaml:"entries"`
}

type kyvernoAttestor struct {
	Keys kyvernoKeys `yaml:"keys"`
}

type kyvernoKeys struct {
	PublicKeys         string `yaml:"publicKeys"`
	SignatureAlgorithm string `yaml:"signatureAlgorithm"`
	Rekor              struct {
		IgnoreTlog bool `yaml:"ignoreTlog"`
	} `yaml:"rekor"`
	CTLog struct {
		IgnoreSCT bool `yaml:"ignoreSCT"`
	} `yaml:"ctlog"`
}

type kyvernoAnyAllConds struct {
	Any []kyvernoCondition `yaml:"any,omitempty"`
	All []kyvernoCondition `yaml:"all,omitempty"`
}

type kyvernoCondition struct {
	Key      string `yaml:"key"`
	Operator string `yaml:"operator"`
	Value    any    `yaml:"value"`
	Message  string `yaml:"message,omitempty"`
}

type kyvernoValidate struct {
	FailureAction string           `yaml:"failureAction"`
	Message       string           `yaml:"message"`
	Foreach       []kyvernoForeach `yaml:"foreach"`
}

type kyvernoForeach struct {
	List          string             `yaml:"list"`
	Preconditions kyvernoAnyAllConds `yaml:"preconditions"`
	Deny          struct {
		Conditions kyvernoAnyAllConds `yaml:"conditions"`
	} `yaml:"deny"`
}

// containers lists a Pod's containers of every kind, as a Kyverno foreach.
const containers = "request.object.spec.[containers, initContainers, ephemeralContainers][][]"

// Render implements Format.
func (Kyverno) Render(p Policy) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	pol := kyvernoPolicy{
		APIVersion: "kyverno.io/v1",
		Kind:       "ClusterPolicy",
		Metadata: metadata{
			Name:        resourceName("bakery", p.Environment),
			Annotations: map[string]string{"bakery.dev/environment": p.Environment},
		},
		Spec: kyvernoPolicySpec{WebhookTimeoutSeconds: 30},
	}
	var attestors []kyvernoAttestor
	for _, k := range p.Keys {
		a := kyvernoAttestor{Keys: kyvernoKeys{PublicKeys: k, SignatureAlgorithm: "sha256"}}
		a.Keys.Rekor.IgnoreTlog = true
		a.Keys.CTLog.IgnoreSCT = true
		attestors = append(attestors, a)
	}
	revoked, scheduled := splitRevoked(p.Revoked, time.Now())
	for _, t := range p.Targets {
		pol.Spec.Rules = append(pol.Spec.Rules, receiptsRule(t, attestors), admittedRule(p.Environment, t, revoked, scheduled))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by `bakery admission --env %s --format kyverno`: Kyverno admits an image of these\n", p.Environment)
	fmt.Fprintf(&buf, "# targets only by digest, when bakery verified a receipt for %s on it (listed below, as of this\n", p.Environment)
	buf.WriteString("# file) and every receipt on it verifies with a trusted key. Regenerate it after each promotion; do not edit it.\n")
	if err := encodeYAML(&buf, pol); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitRevoked splits revocations at now: one in force takes the digest off
// the list of admitted digests; one scheduled for later is denied from its
// time on.
func splitRevoked(revs []Revocation, now time.Time) (map[string]bool, []Revocation) {
	revoked, scheduled := map[string]bool{}, []Revocation{}
	for _, r := range revs {
		if at, err := time.Parse(time.RFC3339, r.EffectiveAt); err == nil && at.After(now) {
			scheduled = append(scheduled, r)
		} else {
			revoked[r.Digest] = true
		}
	}
	return revoked, scheduled
}

func podMatch() kyvernoMatch {
	pod := kyvernoMatch{Any: []kyvernoResourceFilter{{}}}
	pod.Any[0].Resources.Kinds = []string{"Pod"}
	return pod
}

// receiptsRule verifies every receipt on an image of t: signed by a trusted
// key, bakery's, PASSED, for t, naming its own environment's repository.
func receiptsRule(t Target, attestors []kyvernoAttestor) kyvernoRule {
	var refs []string
	for _, r := range targetRepos(t) {
		refs = append(refs, r+"@*", r+":*")
	}
	envRepos, _ := json.Marshal(t.Repositories) // strings: cannot fail
	return kyvernoRule{
		Name:  resourceName(t.Name, "receipts"),
		Match: podMatch(),
		VerifyImages: []kyvernoVerifyImage{{
			ImageReferences: refs, FailureAction: "Enforce",
			MutateDigest: false, VerifyDigest: true, Required: true,
			Attestations: []kyvernoAttestation{{
				Type:      receipt.PredicateVSA,
				Attestors: []kyvernoAttestorSet{{Count: 1, Entries: attestors}},
				Conditions: []kyvernoAnyAllConds{{All: []kyvernoCondition{
					{Key: "{{ verifier.id }}", Operator: "Equals", Value: VerifierID, Message: "not a bakery receipt"},
					{Key: "{{ verificationResult }}", Operator: "Equals", Value: receipt.Passed, Message: "a receipt that did not pass"},
					{Key: "{{ bakery.target }}", Operator: "Equals", Value: t.Name, Message: "a receipt for another target"},
					{
						Key:      fmt.Sprintf("{{ starts_with(resourceUri, join('', [lookup(`%s`, bakery.environment) || 'none', '@sha256:'])) }}", envRepos),
						Operator: "Equals", Value: true,
						Message: "a receipt whose resourceUri is not its environment's repository",
					},
				}}},
			}},
		}},
	}
}

// admittedRule denies an image of t that is not one of the digests
// receipted in env (less those revoked now), and one revoked later from
// its time.
func admittedRule(env string, t Target, revoked map[string]bool, scheduled []Revocation) kyvernoRule {
	allowed := []string{}
	for _, d := range t.Receipted {
		if !revoked[d] {
			allowed = append(allowed, t.Repository+"@"+d)
		}
	}
	sort.Strings(allowed)
	var ours []kyvernoCondition
	for _, r := range targetRepos(t) {
		for _, sep := range []string{"@", ":"} {
			ours = append(ours, kyvernoCondition{Key: fmt.Sprintf("{{ starts_with(element.image, '%s%s') }}", r, sep), Operator: "Equals", Value: true})
		}
	}
	admit := kyvernoForeach{List: containers, Preconditions: kyvernoAnyAllConds{Any: ours}}
	admit.Deny.Conditions = kyvernoAnyAllConds{All: []kyvernoCondition{
		{Key: "{{ element.image }}", Operator: "AnyNotIn", Value: allowed},
	}}
	foreach := []kyvernoForeach{admit}
	for _, r := range scheduled {
		if !slices.Contains(t.Receipted, r.Digest) {
			continue
		}
		f := kyvernoForeach{List: containers, Preconditions: kyvernoAnyAllConds{Any: ours}}
		f.Deny.Conditions = kyvernoAnyAllConds{All: []kyvernoCondition{
			{Key: "{{ ends_with(element.image, '@" + r.Digest + "') }}", Operator: "Equals", Value: true},
			{Key: "{{ time_after(time_now_utc(), '" + r.EffectiveAt + "') }}", Operator: "Equals", Value: true},
		}}
		foreach = append(foreach, f)
	}
	return kyvernoRule{
		Name:  resourceName(t.Name, "receipted-in", env),
		Match: podMatch(),
		Validate: &kyvernoValidate{
			FailureAction: "Enforce",
			Message: fmt.Sprintf("%s: only a digest with a bakery receipt for %s, in %s, not revoked, is admitted "+
				"(bakery history %s --env %s); regenerate this policy after each promotion", t.Name, env, t.Repository, t.Name, env),
			Foreach: foreach,
		},
	}
}

// targetRepos are t's repositories in every environment, sorted: the
// policy covers the target's images wherever they are pulled from.
func targetRepos(t Target) []string {
	seen := map[string]bool{t.Repository: true}
	repos := []string{t.Repository}
	for _, r := range t.Repositories {
		if !seen[r] {
			seen[r] = true
			repos = append(repos, r)
		}
	}
	sort.Strings(repos)
	return repos
}
