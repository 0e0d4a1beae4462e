package attest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// RequiredPredicates are the attestations every bakery-built image carries.
var RequiredPredicates = []string{PredicateSPDX, PredicateCycloneDX, PredicateSLSAv1}

// TrustedKey is a public key a signature must verify against, with its id.
type TrustedKey struct {
	ID       string
	Verifier signature.Verifier
}

// NewTrustedKeys loads verification keys (files or KMS URIs).
func NewTrustedKeys(ctx context.Context, refs []string) ([]TrustedKey, error) {
	if len(refs) == 0 {
		return nil, failure.New(failure.Config, "verification.keys", errors.New("no trusted keys configured"),
			"list cosign public keys (or KMS URIs) under verification.keys, or pass --key")
	}
	var keys []TrustedKey
	for _, r := range refs {
		v, err := LoadVerifier(ctx, r)
		if err != nil {
			return nil, err
		}
		id, err := KeyID(v)
		if err != nil {
			return nil, failure.New(failure.Config, "verification key "+r, err, "")
		}
		keys = append(keys, TrustedKey{ID: id, Verifier: v})
	}
	return keys, nil
}

// Report is what Verify found about one digest.
type Report struct {
	Reference    string            `json:"reference"`
	Digest       v1.Hash           `json:"digest"`
	Verified     bool              `json:"verified"`
	Signatures   []SignatureInfo   `json:"signatures"`
	Attestations []AttestationInfo `json:"attestations"`
	Problems     []string          `json:"problems,omitempty"`
}

// SignatureInfo is a signature on the digest that a trusted key verified.
type SignatureInfo struct {
	KeyID string `json:"keyId"`
	// SignedAt comes from the signed payload, when the signer recorded it.
	SignedAt string `json:"signedAt,omitempty"`
}

// AttestationInfo is a verified attestation about the digest.
type AttestationInfo struct {
	PredicateType string   `json:"predicateType"`
	KeyID         string   `json:"keyId"`
	Layer         v1.Hash  `json:"layer"`
	Subjects      []string `json:"subjects"`
	// SignedAt is the layer's annotation: informative, not signed.
	SignedAt  string          `json:"signedAt,omitempty"`
	Predicate json.RawMessage `json:"-"`
}

// Resolve parses ref and turns it into a digest with one registry round trip
// (registry.Resolve). Everything after works on the returned digest only.
func Resolve(ctx context.Context, ref string, opts ...name.Option) (name.Digest, error) {
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return name.Digest{}, failure.New(failure.Config, ref, err, "use host/repo:tag or host/repo@sha256:…")
	}
	return registry.Resolve(ctx, r)
}

// Verify checks, for the digest ref:
//   - at least one signature of ref by a trusted key, whose signed payload
//     names exactly this digest;
//   - every attestation attached to ref is signed by a trusted key, has ref
//     among its subjects, is an in-toto statement in a DSSE envelope, and
//     carries the predicate type its layer claims;
//   - each of the required predicate types is present.
//
// A failed check returns the Report and a failure.Verify error naming every
// problem; a registry that cannot be reached is failure.Unavailable.
func Verify(ctx context.Context, ref name.Digest, keys []TrustedKey, required []string) (*Report, error) {
	rep := &Report{Reference: ref.String(), Digest: digestOf(ref)}
	co := func(k TrustedKey, claim func(oci.Signature, v1.Hash, map[string]interface{}) error) *cosign.CheckOpts {
		return &cosign.CheckOpts{
			SigVerifier:        k.Verifier,
			IgnoreTlog:         true,
			IgnoreSCT:          true,
			ClaimVerifier:      claim,
			RegistryClientOpts: ociOptions(ctx),
		}
	}
	// Signatures, every attestation layer, and the attestations each key
	// verifies are fetched and checked concurrently.
	var (
		mu       sync.Mutex
		all      []oci.Signature
		verified = map[v1.Hash]string{} // layer digest -> key id
	)
	// Plain ctx, not an errgroup context: layers fetch their payloads lazily,
	// after Wait.
	g := new(errgroup.Group)
	// check runs one of cosign's verifications with one key and hands what
	// verified to record, under mu. A failed check is simply nothing
	// verified; an unreachable registry is an error.
	type cosignVerify func(context.Context, name.Reference, *cosign.CheckOpts) ([]oci.Signature, bool, error)
	check := func(k TrustedKey, verify cosignVerify, claim func(oci.Signature, v1.Hash, map[string]interface{}) error, record func([]oci.Signature)) {
		g.Go(func() error {
			got, _, err := verify(ctx, ref, co(k, claim))
			if err != nil {
				if registry.IsUnavailable(err) {
					return failure.New(failure.Unavailable, ref.String(), err, "retry when the registry is reachable")
				}
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			record(got)
			return nil
		})
	}
	for _, k := range keys {
		check(k, cosign.VerifyImageSignatures, cosign.SimpleClaimVerifier, func(sigs []oci.Signature) {
			for _, sig := range sigs {
				rep.Signatures = append(rep.Signatures, SignatureInfo{KeyID: k.ID, SignedAt: signedAt(sig)})
			}
		})
		check(k, cosign.VerifyImageAttestations, cosign.IntotoSubjectClaimVerifier, func(atts []oci.Signature) {
			for _, a := range atts {
				if d, err := a.Digest(); err == nil {
					verified[d] = k.ID
				}
			}
		})
	}
	g.Go(func() error {
		layers, err := attestationLayers(ctx, ref)
		all = layers
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(rep.Signatures, func(i, j int) bool { return rep.Signatures[i].KeyID < rep.Signatures[j].KeyID })
	if len(rep.Signatures) == 0 {
		rep.Problems = append(rep.Problems, "no signature by a trusted key for this digest")
	}

	found := map[string]bool{}
	// Statements are large (an SBOM is megabytes of JSON): check them concurrently.
	infos := make([]AttestationInfo, len(all))
	serrs := make([]error, len(all))
	cg := new(errgroup.Group)
	cg.SetLimit(runtime.NumCPU())
	for i, layer := range all {
		cg.Go(func() error {
			infos[i], serrs[i] = checkStatement(layer)
			return nil
		})
	}
	_ = cg.Wait()
	for i, layer := range all {
		d, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		info, serr := infos[i], serrs[i]
		keyID, ok := verified[d]
		switch {
		case serr != nil:
			rep.Problems = append(rep.Problems, fmt.Sprintf("attestation %s: %v", short(d), serr))
		case !aboutDigest(info.Subjects, ref.DigestStr()):
			rep.Problems = append(rep.Problems, fmt.Sprintf("attestation %s is about %s, not this digest", short(d), strings.Join(info.Subjects, ", ")))
		case !ok:
			rep.Problems = append(rep.Problems, fmt.Sprintf("attestation %s (%s) is not signed by a trusted key", short(d), PredicateName(info.PredicateType)))
		default:
			info.KeyID, info.Layer = keyID, d
			rep.Attestations = append(rep.Attestations, info)
			found[info.PredicateType] = true
		}
	}
	for _, pt := range required {
		if !found[pt] {
			rep.Problems = append(rep.Problems, "no verified "+PredicateName(pt)+" attestation")
		}
	}
	sort.Slice(rep.Attestations, func(i, j int) bool { return rep.Attestations[i].PredicateType < rep.Attestations[j].PredicateType })
	rep.Verified = len(rep.Problems) == 0
	if !rep.Verified {
		return rep, failure.New(failure.Verify, ref.String(), errors.New("verification failed: "+strings.Join(rep.Problems, "; ")), "do not deploy this image")
	}
	return rep, nil
}

// attestationLayers returns every attestation attached to ref, verified or not.
func attestationLayers(ctx context.Context, ref name.Digest) ([]oci.Signature, error) {
	se, err := ociremote.SignedEntity(ref, ociOptions(ctx)...)
	if err != nil {
		return nil, failure.New(classify(err), ref.String(), err, "")
	}
	atts, err := se.Attestations()
	if err != nil {
		return nil, failure.New(classify(err), ref.String(), err, "")
	}
	layers, err := atts.Get()
	if err != nil {
		return nil, failure.New(classify(err), ref.String(), err, "")
	}
	return layers, nil
}

// checkStatement checks that an attestation layer is a DSSE envelope of an
// in-toto statement whose predicate type is the one its layer annotation claims.
func checkStatement(layer oci.Signature) (AttestationInfo, error) {
	var info AttestationInfo
	env, err := layer.Payload()
	if err != nil {
		return info, err
	}
	var e struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		return info, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if e.PayloadType != types.IntotoPayloadType {
		return info, fmt.Errorf("payload type %q is not %q", e.PayloadType, types.IntotoPayloadType)
	}
	body, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return info, fmt.Errorf("payload is not base64: %w", err)
	}
	var st struct {
		PredicateType string          `json:"predicateType"`
		Subject       []Subject       `json:"subject"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return info, fmt.Errorf("payload is not an in-toto statement: %w", err)
	}
	ann, err := layer.Annotations()
	if err != nil {
		return info, err
	}
	if claimed := ann["predicateType"]; claimed != st.PredicateType {
		return info, fmt.Errorf("claims predicate type %q but its statement is %q", claimed, st.PredicateType)
	}
	if len(st.Predicate) == 0 || string(st.Predicate) == "null" {
		return info, errors.New("empty predicate")
	}
	info.PredicateType, info.Predicate, info.SignedAt = st.PredicateType, st.Predicate, ann[AnnotationSignedAt]
	for _, s := range st.Subject {
		info.Subjects = append(info.Subjects, s.Name+"@sha256:"+s.Digest["sha256"])
	}
	return info, nil
}

// aboutDigest reports whether a subject has the digest. Like cosign, it
// compares digests only: the same digest is the same image in any repository
// it is promoted to.
func aboutDigest(subjects []string, digest string) bool {
	return slices.ContainsFunc(subjects, func(s string) bool { return strings.HasSuffix(s, "@"+digest) })
}

// signedAt reads the signing time from a simple-signing payload's optional section.
func signedAt(sig oci.Signature) string {
	p, err := sig.Payload()
	if err != nil {
		return ""
	}
	var ss struct {
		Optional map[string]any `json:"optional"`
	}
	if json.Unmarshal(p, &ss) != nil {
		return ""
	}
	s, _ := ss.Optional[AnnotationSignedAt].(string)
	return s
}

// PredicateName is the cosign --type name of a predicate type.
func PredicateName(pt string) string {
	switch pt {
	case PredicateSPDX:
		return "spdxjson"
	case PredicateCycloneDX:
		return "cyclonedx"
	case PredicateSLSAv1:
		return "slsaprovenance1"
	}
	return pt
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}
