package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
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

// Where trusted keys come from, as NewTrustedKeysFrom's errors name them.
const (
	FromConfig = "verification.keys"
	FromFlag   = "--key"
)

// NewTrustedKeys loads verification keys (files or KMS URIs) listed under
// verification.keys.
func NewTrustedKeys(ctx context.Context, refs []string) ([]TrustedKey, error) {
	return NewTrustedKeysFrom(ctx, FromConfig, refs)
}

// NewTrustedKeysFrom loads verification keys named by origin (FromFlag or
// FromConfig): a key that does not load is blamed on origin.
func NewTrustedKeysFrom(ctx context.Context, origin string, refs []string) ([]TrustedKey, error) {
	if len(refs) == 0 {
		return nil, failure.New(failure.Config, "verification.keys", errors.New("no trusted keys configured"),
			"list cosign public keys (or KMS URIs) under verification.keys, or pass --key")
	}
	var keys []TrustedKey
	for _, r := range refs {
		v, err := loadVerifier(ctx, origin, r)
		if err != nil {
			return nil, err
		}
		id, err := KeyID(v)
		if err != nil {
			return nil, failure.New(failure.Config, origin+" "+r, err, "")
		}
		keys = append(keys, TrustedKey{ID: id, Verifier: v})
	}
	return keys, nil
}

// Verifier checks digests against what a site trusts: the keys a signature
// must verify with and the predicate types every image must carry. A command
// builds one (NewVerifier) and hands it to everything that reads signed
// data, as cosign hands its CheckOpts down.
type Verifier struct {
	keys     []TrustedKey
	required []string
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithRequired replaces RequiredPredicates as the predicate types Verify
// requires.
func WithRequired(predicates ...string) VerifierOption {
	return func(v *Verifier) { v.required = predicates }
}

// NewVerifier loads the trusted keys refs (files or KMS URIs) named by origin
// (FromFlag or FromConfig: a key that does not load is blamed on it).
func NewVerifier(ctx context.Context, origin string, refs []string, opts ...VerifierOption) (*Verifier, error) {
	keys, err := NewTrustedKeysFrom(ctx, origin, refs)
	if err != nil {
		return nil, err
	}
	return Trusting(keys, opts...), nil
}

// Trusting is a Verifier of keys that are already loaded.
func Trusting(keys []TrustedKey, opts ...VerifierOption) *Verifier {
	v := &Verifier{keys: keys, required: RequiredPredicates}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Keys are the trusted keys, for checking signed data that is not attached
// to a digest (revocation lists, bundle manifests).
func (v *Verifier) Keys() []TrustedKey { return v.keys }

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
//   - each predicate type v requires has such an attestation, and each required
//     SBOM type (SPDX, CycloneDX) has one about every platform image of an
//     index, so that removing one platform's SBOM fails closed.
//
// A failed check returns the Report and a failure.Verify error naming every
// problem; a registry that cannot be reached is failure.Unavailable.
func (v *Verifier) Verify(ctx context.Context, ref name.Digest) (*Report, error) {
	got, err := v.collect(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	rep := &Report{Reference: ref.String(), Digest: digestOf(ref), Signatures: got.signatures, Platforms: got.platforms}
	if len(rep.Signatures) == 0 {
		rep.Problems = append(rep.Problems, "no signature by a trusted key for this digest")
	}
	rep.Attestations, rep.Ignored = sortAttestations(ref, got)
	rep.Problems = append(rep.Problems, missing(v.required, rep.Attestations, got.platforms)...)
	rep.Verified = len(rep.Problems) == 0
	if !rep.Verified {
		return rep, failure.New(failure.Verify, ref.String(), errors.New("verification failed: "+strings.Join(rep.Problems, "; ")), "do not deploy this image")
	}
	return rep, nil
}

// collected is what Verify read and checked about a digest.
type collected struct {
	signatures []SignatureInfo
	// atts are every attestation attached, verified or not, with what
	// checking each found.
	atts []attestation
	// platforms are the images an SBOM must cover: every platform image of
	// an index (none for a single image, which every attestation is about).
	platforms []PlatformImage
}

type attestation struct {
	layer v1.Descriptor
	*checkedAttestation
}

// PlatformImage is one platform image of an index.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// collect reads what is attached to ref (fetch.go) and checks every
// signature and attestation layer with every key, concurrently; a layer
// already checked in this process is not read again. want, when not nil,
// limits the attestations read to the predicate types it lists (by the
// type their layer claims, which must match their statement to count), and
// then signatures are not read. An unreachable registry is an error; a bad
// layer is simply not verified.
func (v *Verifier) collect(ctx context.Context, ref name.Digest, want []string) (*collected, error) {
	got, err := readAttached(ctx, ref, want == nil)
	if err != nil {
		return nil, err
	}
	out := &collected{platforms: got.platforms}
	repo := ref.Context()
	for _, l := range got.atts {
		if want == nil || slices.Contains(want, l.Annotations["predicateType"]) {
			out.atts = append(out.atts, attestation{layer: l})
		}
	}
	sigs := make([]*checkedSignature, len(got.sigs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.NumCPU())
	for i, l := range got.sigs {
		g.Go(func() (err error) {
			sigs[i], err = checkSignature(gctx, repo, l, v.keys)
			return err
		})
	}
	for i := range out.atts {
		g.Go(func() (err error) {
			out.atts[i].checkedAttestation, err = checkAttestation(gctx, repo, out.atts[i].layer, v.keys)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, c := range sigs {
		if c.digest != ref.DigestStr() {
			continue // signs another digest, or nothing: cosign's claim check
		}
		for _, id := range c.keys {
			l := got.sigs[i]
			out.signatures = append(out.signatures, SignatureInfo{KeyID: id, Layer: l.Digest,
				Signature: l.Annotations[static.SignatureAnnotationKey], SignedAt: c.signedAt})
		}
	}
	sort.SliceStable(out.signatures, func(i, j int) bool { return out.signatures[i].KeyID < out.signatures[j].KeyID })
	return out, nil
}

// sortAttestations sorts the attestations into the ones that count and the
// ones that are ignored, with the reason.
func sortAttestations(ref name.Digest, got *collected) ([]AttestationInfo, []IgnoredAttestation) {
	var ok []AttestationInfo
	var ignored []IgnoredAttestation
	for _, a := range got.atts {
		info, err := a.info, a.bad
		if err == nil && a.layer.Annotations["predicateType"] != info.PredicateType {
			err = fmt.Errorf("claims predicate type %q but its statement is %q", a.layer.Annotations["predicateType"], info.PredicateType)
		}
		reason := ""
		switch {
		case err != nil:
			reason = err.Error()
		case !aboutDigest(info.Subjects, ref.DigestStr()):
			reason = "it is about " + strings.Join(info.Subjects, ", ") + ", not this digest"
		case len(a.keys) == 0:
			reason = "it is not signed by a trusted key"
		}
		if reason != "" {
			ignored = append(ignored, IgnoredAttestation{Layer: a.layer.Digest, PredicateType: info.PredicateType, Reason: reason})
			continue
		}
		info.KeyID, info.Layer, info.SignedAt = a.keys[0], a.layer.Digest, a.layer.Annotations[AnnotationSignedAt]
		ok = append(ok, info)
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].PredicateType < ok[j].PredicateType })
	return ok, ignored
}

// Attestations reads only the attestations of ref whose layers claim one
// of the predicate types want, and sorts them as Verify does: the verified
// ones, and the ignored ones with the reason. It reads no signature and
// checks no required predicate: it is for reading receipts (history), not
// for deciding whether to trust the image.
func (v *Verifier) Attestations(ctx context.Context, ref name.Digest, want []string) ([]AttestationInfo, []IgnoredAttestation, error) {
	if want == nil {
		want = []string{}
	}
	got, err := v.collect(ctx, ref, want)
	if err != nil {
		return nil, nil, err
	}
	ok, ignored := sortAttestations(ref, got)
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

// aboutDigest reports whether a subject has the digest. Like cosign, it
// compares digests only: the same digest is the same image in any repository
// it is promoted to.
func aboutDigest(subjects []string, digest string) bool {
	return slices.ContainsFunc(subjects, func(s string) bool { return strings.HasSuffix(s, "@"+digest) })
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
