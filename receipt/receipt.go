// Package receipt makes, reads and selects bakery's receipts. A receipt is a
// signed in-toto statement whose predicate is an SLSA verification summary
// (VSA) with bakery's own fields: it records one step of a digest's path (its
// build into the first environment, a promotion, a rollback) and is attached
// to the digest in the registry like any other attestation, so that history
// and status read the registry alone.
package receipt

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/policies"
)

// PredicateVSA is the SLSA verification summary predicate of a receipt.
const PredicateVSA = attest.PredicateVSA

// Actions a receipt records.
const (
	ActionBuild    = "build"
	ActionPromote  = "promote"
	ActionRollback = "rollback"
	// ActionImport is a digest carried across an air gap in a bundle and
	// imported into a site's environment (bundle.Import).
	ActionImport = "import"
)

// VerifierID is the verifier.id of every receipt bakery signs.
const VerifierID = "https://github.com/bakeryhq/bakery"

// Passed is the verification result of every receipt bakery signs.
const Passed = "PASSED"

// VSA is the receipt's predicate: SLSA verification_summary v1, with
// bakery's own fields under "bakery".
type VSA struct {
	Verifier           Verifier      `json:"verifier"`
	TimeVerified       time.Time     `json:"timeVerified"`
	ResourceURI        string        `json:"resourceUri"`
	Policy             ResourceRef   `json:"policy"`
	InputAttestations  []ResourceRef `json:"inputAttestations"`
	VerificationResult string        `json:"verificationResult"`
	VerifiedLevels     []string      `json:"verifiedLevels"`
	SLSAVersion        string        `json:"slsaVersion"`
	Bakery             Metadata      `json:"bakery"`
}

// Verifier identifies bakery as the verifier.
type Verifier struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// ResourceRef is a URI with digests (SLSA ResourceDescriptor subset).
type ResourceRef struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Metadata says which step of the promotion path a receipt records.
type Metadata struct {
	Action      string   `json:"action"`
	Target      string   `json:"target"`
	Environment string   `json:"environment"`
	From        string   `json:"from,omitempty"`
	Policies    []string `json:"policies,omitempty"`
	// AMIs are the environment's own AMI ids per region, for a machine
	// image promoted into an environment with aws settings.
	AMIs map[string]string `json:"amis,omitempty"`
	// Replaced is the digest the environment's tag held before a forced
	// import replaced it.
	Replaced string `json:"replaced,omitempty"`
	// Reason is why the step was taken, as the person gave it (rollback
	// --reason, promote --digest --reason).
	Reason string `json:"reason,omitempty"`
	// Actor is who took the step (env.Actor: --actor, the CI identity with
	// its run URL, or the local user); Sign fills it in from the context.
	Actor string `json:"actor,omitempty"`
	// Vulnerabilities is what the vulnerabilities policy decided on, when
	// the environment lists it.
	Vulnerabilities *Vulnerabilities `json:"vulnerabilities,omitempty"`
}

// Vulnerabilities records a promotion's vulnerability decision: the build
// time of the newest database its scans used, the summary every command
// shows, the findings that counted (and were allowed), and the ones a
// signed VEX statement or a waiver suppressed, with what suppressed them.
type Vulnerabilities struct {
	Database   string   `json:"database"`
	Summary    string   `json:"summary"`
	Counted    []string `json:"counted"`
	Suppressed []string `json:"suppressed"`
}

type actorKey struct{}

// WithActor returns a context whose receipts record actor as who took the
// step (the command's --actor, or env.Actor).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor ctx carries, else env.Actor's answer.
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return env.Actor("")
}

// Statement makes the in-toto statement of a receipt for dst. policyDigest
// names the policies that allowed the step; inputs are the verified
// attestations the step relied on (receipts among them are left out).
func Statement(dst name.Digest, meta Metadata, policyDigest, version string, inputs []attest.AttestationInfo) (attest.Statement, error) {
	vsa := VSA{
		Verifier:           Verifier{ID: VerifierID, Version: map[string]string{"bakery": version}},
		TimeVerified:       time.Now().UTC(),
		ResourceURI:        dst.String(),
		Policy:             ResourceRef{URI: "bakery:policies/" + meta.Environment, Digest: digestMap(policyDigest)},
		VerificationResult: Passed,
		VerifiedLevels:     []string{"SLSA_BUILD_LEVEL_1"},
		SLSAVersion:        "1.0",
		Bakery:             meta,
	}
	for _, a := range inputs {
		if a.PredicateType == PredicateVSA {
			continue
		}
		vsa.InputAttestations = append(vsa.InputAttestations, ResourceRef{
			URI: dst.Context().String() + "@" + a.Layer.String(), Digest: map[string]string{a.Layer.Algorithm: a.Layer.Hex},
		})
	}
	body, err := json.Marshal(vsa)
	if err != nil {
		return attest.Statement{}, err
	}
	return attest.Statement{PredicateType: PredicateVSA, Subjects: []attest.Subject{attest.SubjectOf(dst)}, Predicate: body}, nil
}

// Sign makes the receipt of one step for dst, signs it with signer and
// attaches it to dst.
func Sign(ctx context.Context, signer signature.SignerVerifier, dst name.Digest, meta Metadata, policyDigest, version string, inputs []attest.AttestationInfo) error {
	if meta.Actor == "" {
		meta.Actor = ActorOf(ctx)
	}
	st, err := Statement(dst, meta, policyDigest, version, inputs)
	if err != nil {
		return err
	}
	return attest.Attach(ctx, signer, dst, []attest.Statement{st})
}

// SignBuild signs the receipt of a build into env, the first environment.
func SignBuild(ctx context.Context, signer signature.SignerVerifier, ref name.Digest, target, env, version string) error {
	return Sign(ctx, signer, ref, Metadata{Action: ActionBuild, Target: target, Environment: env}, "", version, nil)
}

func digestMap(d string) map[string]string {
	if alg, hex, ok := strings.Cut(d, ":"); ok {
		return map[string]string{alg: hex}
	}
	return nil
}

// Binding is what a receipt must name to count for a digest: the target, and
// the repository the target lives in for the receipt's environment. A receipt
// names both (Metadata.Target, and ResourceURI = repository@digest), so a
// digest copied with its receipts into another target's repository, or
// another environment's, carries receipts that count for nothing there.
type Binding struct {
	Target string
	// Repositories maps an environment to the target's repository in it.
	Repositories map[string]string
}

// Bind returns the Binding of target under cfg's environments.
func Bind(cfg *config.Config, target string) Binding {
	b := Binding{Target: target, Repositories: map[string]string{}}
	for i := range cfg.Environments {
		if tag, err := cfg.Environments[i].Locate(target); err == nil {
			b.Repositories[cfg.Environments[i].Name] = tag.Context().String()
		}
	}
	return b
}

// binds reports whether v was issued for digest under b.
func (b Binding) binds(v VSA, digest string) bool {
	repo, ok := b.Repositories[v.Bakery.Environment]
	return ok && v.Bakery.Target == b.Target && v.ResourceURI == repo+"@"+digest
}

// timeFormat has a fixed width, so that receipt times also sort as strings.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Read returns the verified receipts among a verification report's
// attestations that b binds to the report's digest, oldest first.
func Read(rep *attest.Report, b Binding) []policies.Receipt {
	var out []policies.Receipt
	for _, v := range vsas(rep, b) {
		out = append(out, policies.Receipt{
			Target: v.Bakery.Target, Repository: b.Repositories[v.Bakery.Environment],
			Environment: v.Bakery.Environment, Digest: rep.Digest.String(),
			Time: v.TimeVerified.UTC().Format(timeFormat), KeyID: v.keyID,
			Result: v.VerificationResult, Action: v.Bakery.Action, Replaced: v.Bakery.Replaced,
			From: v.Bakery.From, Reason: v.Bakery.Reason, Actor: v.Bakery.Actor,
		})
	}
	return out
}

// Has reports whether rep holds a bound, verified PASSED receipt for env.
func Has(rep *attest.Report, b Binding, env string) bool {
	for _, v := range vsas(rep, b) {
		if v.Bakery.Environment == env && v.VerificationResult == Passed {
			return true
		}
	}
	return false
}

// Newest returns the newest bound, verified PASSED receipt for env: the
// policies and policy digest that allowed the step are in it.
func Newest(rep *attest.Report, b Binding, env string) (VSA, bool) {
	var out VSA
	found := false
	for _, v := range vsas(rep, b) { // oldest first: the last one wins
		if v.Bakery.Environment == env && v.VerificationResult == Passed {
			out, found = v.VSA, true
		}
	}
	return out, found
}

// AMIs returns the AMI ids the newest bound, verified receipt for env records.
func AMIs(rep *attest.Report, b Binding, env string) map[string]string {
	var amis map[string]string
	for _, v := range vsas(rep, b) { // oldest first: the last one wins
		if v.Bakery.Environment == env && len(v.Bakery.AMIs) > 0 {
			amis = v.Bakery.AMIs
		}
	}
	return amis
}

// Of decodes a verified attestation as a receipt, for showing it: ok is
// false when it is not one. Whether it binds a target in an environment
// is Read's, Has's and Newest's to decide.
func Of(a attest.AttestationInfo) (v VSA, ok bool) {
	if a.PredicateType != PredicateVSA || json.Unmarshal(a.Predicate, &v) != nil {
		return VSA{}, false
	}
	return v, true
}

type signedVSA struct {
	VSA
	keyID string
	layer string
}

// vsas decodes the verified receipt predicates of rep that b binds to its
// digest, oldest first (ties broken by the layer digest, so that every
// reader orders them alike). One that does not decode is not a receipt.
func vsas(rep *attest.Report, b Binding) []signedVSA {
	var out []signedVSA
	for _, a := range rep.Attestations {
		if a.PredicateType != PredicateVSA {
			continue
		}
		var v VSA
		if json.Unmarshal(a.Predicate, &v) != nil || !b.binds(v, rep.Digest.String()) {
			continue
		}
		out = append(out, signedVSA{VSA: v, keyID: a.KeyID, layer: a.Layer.String()})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].TimeVerified.Equal(out[j].TimeVerified) {
			return out[i].TimeVerified.Before(out[j].TimeVerified)
		}
		return out[i].layer < out[j].layer
	})
	return out
}

// Step is one verified receipt in full: what Read returns, and also where
// the digest came from, the policies that allowed the step and the digest
// of their text, and the signing key and layer.
type Step struct {
	VSA
	KeyID string `json:"keyId"`
	Layer string `json:"layer"`
}

// Steps returns the verified receipts among rep's attestations that b binds
// to rep's digest, in full, oldest first (in the order Read returns them).
func Steps(rep *attest.Report, b Binding) []Step {
	vs := vsas(rep, b)
	out := make([]Step, len(vs))
	for i, v := range vs {
		out[i] = Step{VSA: v.VSA, KeyID: v.keyID, Layer: v.layer}
	}
	return out
}
