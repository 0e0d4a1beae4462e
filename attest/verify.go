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

// MaxAttestations bounds the attestations bakery reads for one digest (the
// bound cosign's advisories use). More is refused, never read into memory:
// a registry or someone with push rights is flooding the digest.
var MaxAttestations = 100

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
	// Ignored are attestations that did not verify; they count for nothing.
	Ignored []IgnoredAttestation `json:"ignored,omitempty"`
	// Platforms are the platform images of an index, each of which the
	// SBOMs must cover (none for a single image).
	Platforms []PlatformImage `json:"platforms,omitempty"`
}

// IgnoredAttestation is an attestation attached to a digest that did not
// verify, and why.
type IgnoredAttestation struct {
	Layer         v1.Hash `json:"layer"`
	PredicateType string  `json:"predicateType,omitempty"`
	Reason        string  `json:"reason"`
}

// SignatureInfo is a signature on the digest that a trusted key verified.
type SignatureInfo struct {
	KeyID string `json:"keyId"`
	// Layer is the signature's layer in the cosign signature image: the
	// digest of the signed payload. Signature is the base64 signature
	// itself (a layer annotation): one payload can carry several.
	Layer     v1.Hash `json:"layer"`
	Signature string  `json:"signature,omitempty"`
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
//   - each attestation attached to ref counts only if it is signed by a
//     trusted key, has ref among its subjects, is an in-toto statement in a
//     DSSE envelope, and carries the predicate type its layer claims; any
//     other is listed in Report.Ignored with the reason and counts for
//     nothing, as with cosign, so that junk anyone can push does not block;
//   - each required predicate type has such an attestation, and each required
//     SBOM type (SPDX, CycloneDX) has one about every platform image of an
//     index, so that removing one platform's SBOM fails closed.
//
// A failed check returns the Report and a failure.Verify error naming every
// problem; a registry that cannot be reached is failure.Unavailable.
func Verify(ctx context.Context, ref name.Digest, keys []TrustedKey, required []string) (*Report, error) {
	got, err := collect(ctx, ref, keys)
	if err != nil {
		return nil, err
	}
	rep := &Report{Reference: ref.String(), Digest: digestOf(ref), Signatures: got.signatures, Platforms: got.platforms}
	if len(rep.Signatures) == 0 {
		rep.Problems = append(rep.Problems, "no signature by a trusted key for this digest")
	}
	if rep.Attestations, rep.Ignored, err = sortAttestations(ref, got); err != nil {
		return nil, err
	}
	rep.Problems = append(rep.Problems, missing(required, rep.Attestations, got.platforms)...)
	rep.Verified = len(rep.Problems) == 0
	if !rep.Verified {
		return rep, failure.New(failure.Verify, ref.String(), errors.New("verification failed: "+strings.Join(rep.Problems, "; ")), "do not deploy this image")
	}
	return rep, nil
}

// collected is what Verify fetched about a digest.
type collected struct {
	signatures []SignatureInfo
	// layers are every attestation attached, verified or not.
	layers []oci.Signature
	// verified maps the layer digest of each attestation a trusted key
	// verified to that key's id.
	verified map[v1.Hash]string
	// platforms are the images an SBOM must cover: every platform image of
	// an index (none for a single image, which every attestation is about).
	platforms []PlatformImage
}

// PlatformImage is one platform image of an index.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// collect fetches the signatures and attestations of ref and checks them with
// each key, all concurrently.
func collect(ctx context.Context, ref name.Digest, keys []TrustedKey) (*collected, error) {
	got := &collected{verified: map[v1.Hash]string{}}
	var mu sync.Mutex
	// Plain ctx, not an errgroup context: layers fetch their payloads lazily,
	// after Wait.
	g := new(errgroup.Group)
	// check runs one of cosign's verifications with one key and hands what
	// verified to keep, under mu. A failed check is simply nothing verified;
	// an unreachable registry is an error.
	type cosignVerify func(context.Context, name.Reference, *cosign.CheckOpts) ([]oci.Signature, bool, error)
	check := func(k TrustedKey, verify cosignVerify, claim func(oci.Signature, v1.Hash, map[string]interface{}) error, keep func([]oci.Signature)) {
		g.Go(func() error {
			sigs, _, err := verify(ctx, ref, &cosign.CheckOpts{
				SigVerifier: k.Verifier, IgnoreTlog: true, IgnoreSCT: true,
				ClaimVerifier: claim, RegistryClientOpts: registry.OCIOptions(ctx),
			})
			if err != nil {
				if registry.IsUnavailable(err) {
					return failure.New(failure.Unavailable, ref.String(), err, "retry when the registry is reachable")
				}
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			keep(sigs)
			return nil
		})
	}
	for _, k := range keys {
		check(k, cosign.VerifyImageSignatures, cosign.SimpleClaimVerifier, func(sigs []oci.Signature) {
			for _, sig := range sigs {
				d, _ := sig.Digest()
				b64, _ := sig.Base64Signature()
				got.signatures = append(got.signatures, SignatureInfo{KeyID: k.ID, Layer: d, Signature: b64, SignedAt: signedAt(sig)})
			}
		})
		check(k, cosign.VerifyImageAttestations, cosign.IntotoSubjectClaimVerifier, func(atts []oci.Signature) {
			for _, a := range atts {
				if d, err := a.Digest(); err == nil {
					got.verified[d] = k.ID
				}
			}
		})
	}
	g.Go(func() error {
		var err error
		got.layers, got.platforms, err = attestationLayers(ctx, ref)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(got.signatures, func(i, j int) bool { return got.signatures[i].KeyID < got.signatures[j].KeyID })
	return got, nil
}

// sortAttestations decodes every attestation layer (concurrently: an SBOM is
// megabytes of JSON) and sorts it into the ones that count and the ones that
// are ignored, with the reason.
func sortAttestations(ref name.Digest, got *collected) ([]AttestationInfo, []IgnoredAttestation, error) {
	infos := make([]AttestationInfo, len(got.layers))
	errs := make([]error, len(got.layers))
	g := new(errgroup.Group)
	g.SetLimit(runtime.NumCPU())
	for i, layer := range got.layers {
		g.Go(func() error {
			infos[i], errs[i] = checkStatement(layer)
			return nil
		})
	}
	_ = g.Wait()
	var ok []AttestationInfo
	var ignored []IgnoredAttestation
	for i, layer := range got.layers {
		d, err := layer.Digest()
		if err != nil {
			return nil, nil, err
		}
		if errs[i] != nil && registry.IsUnavailable(errs[i]) {
			// An outage is not a bad attestation: nothing can be said yet.
			return nil, nil, failure.New(failure.Unavailable, ref.String(), errs[i], "retry when the registry is reachable")
		}
		info := infos[i]
		keyID, signed := got.verified[d]
		reason := ""
		switch {
		case errs[i] != nil:
			reason = errs[i].Error()
		case !aboutDigest(info.Subjects, ref.DigestStr()):
			reason = "it is about " + strings.Join(info.Subjects, ", ") + ", not this digest"
		case !signed:
			reason = "it is not signed by a trusted key"
		}
		if reason != "" {
			ignored = append(ignored, IgnoredAttestation{Layer: d, PredicateType: info.PredicateType, Reason: reason})
			continue
		}
		info.KeyID, info.Layer = keyID, d
		ok = append(ok, info)
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].PredicateType < ok[j].PredicateType })
	return ok, ignored, nil
}

// missing lists the required predicates without a verified attestation; an
// SBOM type must cover every platform image.
func missing(required []string, atts []AttestationInfo, platforms []PlatformImage) []string {
	var out []string
	for _, pt := range required {
		perPlatform := pt == PredicateSPDX || pt == PredicateCycloneDX
		covers := func(digest string) bool {
			return slices.ContainsFunc(atts, func(a AttestationInfo) bool {
				return a.PredicateType == pt && (digest == "" || aboutDigest(a.Subjects, digest))
			})
		}
		if !perPlatform || len(platforms) == 0 {
			if !covers("") {
				out = append(out, "no verified "+PredicateName(pt)+" attestation")
			}
			continue
		}
		for _, p := range platforms {
			if !covers(p.Digest) {
				out = append(out, fmt.Sprintf("no verified %s attestation for platform %s (%s)", PredicateName(pt), p.Platform, p.Digest))
			}
		}
	}
	return out
}

// attestationLayers returns every attestation attached to ref, verified or
// not, and the images an SBOM must cover, read from the manifest the same
// request fetched.
func attestationLayers(ctx context.Context, ref name.Digest) ([]oci.Signature, []PlatformImage, error) {
	se, err := ociremote.SignedEntity(ref, registry.OCIOptions(ctx)...)
	if err != nil {
		return nil, nil, failure.New(classify(err), ref.String(), err, "")
	}
	platforms, err := platformImages(se)
	if err != nil {
		return nil, nil, failure.New(classify(err), ref.String(), err, "")
	}
	atts, err := se.Attestations()
	if err != nil {
		return nil, nil, failure.New(classify(err), ref.String(), err, "")
	}
	layers, err := atts.Get()
	if err != nil {
		return nil, nil, failure.New(classify(err), ref.String(), err, "")
	}
	if len(layers) > MaxAttestations {
		return nil, nil, failure.New(failure.Verify, ref.String(), fmt.Errorf("%d attestations, more than the %d bakery reads", len(layers), MaxAttestations),
			"someone with push rights is flooding this digest: remove the junk from its .att tag, or do not deploy it")
	}
	return layers, platforms, nil
}

// platformImages lists the platform images of an index (BuildKit's
// attestation manifests excluded); none for a single image.
func platformImages(se oci.SignedEntity) ([]PlatformImage, error) {
	idx, ok := se.(oci.SignedImageIndex)
	if !ok {
		return nil, nil // the image itself: every counted attestation is about it
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []PlatformImage
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || registry.IsAttestationManifest(m) {
			continue
		}
		p := "unknown"
		if m.Platform != nil {
			p = m.Platform.String()
		}
		out = append(out, PlatformImage{Platform: p, Digest: m.Digest.String()})
	}
	return out, nil
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
