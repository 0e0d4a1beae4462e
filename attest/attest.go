// Package attest proves what a digest is. For a built digest it makes an SBOM
// of every platform with syft, SLSA v1 provenance from the build's
// invocation, signs the digest, and attaches the SBOMs and the provenance as
// in-toto attestations in DSSE envelopes, signed with cosign. Everything is
// stored in the registry under cosign's tag scheme (sha256-<hex>.sig and
// .att), so the stock cosign CLI verifies it, and so does Verify.
package attest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
)

// AnnotationSignedAt records when bakery signed: inside the signed payload of
// a signature, and as a (not signed) layer annotation of an attestation.
const AnnotationSignedAt = "dev.bakery/signed-at"

// Attester signs a built digest and attaches its SBOMs and provenance.
type Attester interface {
	Attest(ctx context.Context, ref name.Digest, res builders.Result) (*Attached, error)
}

// Attached says what Attest attached to a digest.
type Attached struct {
	KeyID        string         `json:"keyId"`
	SBOMs        []AttachedSBOM `json:"sboms"`
	Attestations []AttachedInfo `json:"attestations"`
}

// AttachedSBOM summarizes one platform's SBOM.
type AttachedSBOM struct {
	Platform string  `json:"platform"`
	Digest   v1.Hash `json:"digest"`
	Packages int     `json:"packages"`
}

// AttachedInfo is one attestation: its predicate type and, for SBOMs, the platform.
type AttachedInfo struct {
	PredicateType string `json:"predicateType"`
	Platform      string `json:"platform,omitempty"`
}

// Options configures a cosign Attester.
type Options struct {
	Signer    signature.SignerVerifier
	BuilderID string
	// Version is bakery's version, recorded as the SBOM tool and in provenance.
	Version string
	// Organization and Namespace are the SBOMs' author organization and SPDX
	// namespace base (config sbom.organization and sbom.namespace).
	Organization, Namespace string
	// BuilderSBOMs says every result carries the SBOM its builder catalogued
	// (machine images): syft's license scanner is then not prepared.
	BuilderSBOMs bool
	// SBOMCache is the SBOM layer cache (sbom.LayerCacheFor); nil catalogs every
	// layer of every image.
	SBOMCache *sbom.LayerCache
}

// New returns an Attester that signs with opts.Signer. Unless results bring
// their own SBOMs, it starts preparing syft's license scanner at once, so that
// work overlaps the build.
func New(opts Options) Attester {
	a := &cosignAttester{opts: opts}
	if !opts.BuilderSBOMs {
		a.licenses = sbom.NewLicenseScanner()
	}
	return a
}

type cosignAttester struct {
	opts     Options
	licenses *sbom.LicenseScanner
}

var _ Attester = (*cosignAttester)(nil)

// Attest makes the SBOMs (each platform concurrently) and the provenance,
// then signs and writes the signature and every attestation in one write each.
func (a *cosignAttester) Attest(ctx context.Context, ref name.Digest, res builders.Result) (*Attached, error) {
	keyID, err := KeyID(a.opts.Signer)
	if err != nil {
		return nil, err
	}
	rec := &Attached{KeyID: keyID}
	platforms, err := Platforms(ctx, ref)
	if err != nil {
		return nil, err
	}
	sboms, err := a.sboms(ctx, ref, platforms, res)
	if err != nil {
		return nil, err
	}
	var stmts []Statement
	for _, s := range sboms {
		subjects := []Subject{SubjectOf(ref), SubjectOf(s.Ref)}
		stmts = append(stmts,
			Statement{PredicateType: PredicateSPDX, Subjects: subjects, Predicate: s.SPDX, Platform: s.Platform},
			Statement{PredicateType: PredicateCycloneDX, Subjects: subjects, Predicate: s.CycloneDX, Platform: s.Platform})
		rec.SBOMs = append(rec.SBOMs, AttachedSBOM{Platform: s.Platform, Digest: digestOf(s.Ref), Packages: s.Packages})
	}
	prov, err := json.Marshal(NewProvenance(res, a.opts.BuilderID, a.opts.Version))
	if err != nil {
		return nil, err
	}
	provSubjects := []Subject{SubjectOf(ref)}
	for _, p := range platforms {
		if p.Ref != ref {
			provSubjects = append(provSubjects, SubjectOf(p.Ref))
		}
	}
	stmts = append(stmts, Statement{PredicateType: PredicateSLSAv1, Subjects: provSubjects, Predicate: prov})

	if err := Sign(ctx, a.opts.Signer, ref, stmts); err != nil {
		return nil, err
	}
	for _, st := range stmts {
		rec.Attestations = append(rec.Attestations, AttachedInfo{PredicateType: st.PredicateType, Platform: st.Platform})
	}
	return rec, nil
}

// sboms makes the SBOM of each platform, concurrently: catalogued by syft from
// the pushed platform image, or encoded from the one the builder catalogued
// (machine images).
func (a *cosignAttester) sboms(ctx context.Context, ref name.Digest, platforms []Platform, res builders.Result) ([]*sbom.Document, error) {
	sboms := make([]*sbom.Document, len(platforms))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range platforms {
		g.Go(func() error {
			var err error
			if res.SBOM != nil {
				sboms[i], err = sbom.Encode(res.SBOM, p.Ref, p.Platform, a.identity())
			} else {
				sboms[i], err = sbom.GenerateCached(gctx, p.Ref, p.Platform, a.identity(), a.licenses, a.opts.SBOMCache)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, failure.New(classify(err), ref.String(), err, "")
	}
	return sboms, nil
}

func (a *cosignAttester) identity() sbom.Identity {
	return sbom.Identity{Version: a.opts.Version, Organization: a.opts.Organization, Namespace: a.opts.Namespace}
}

// Sign signs ref itself (cosign's simple-signing payload) and attaches each
// statement as a DSSE-enveloped in-toto attestation, then writes signatures
// and attestations to the registry, each with a single manifest write.
func Sign(ctx context.Context, signer signature.SignerVerifier, ref name.Digest, stmts []Statement) error {
	now := time.Now().UTC().Format(time.RFC3339)
	sigPayload, err := (&payload.Cosign{Image: ref, Annotations: map[string]interface{}{AnnotationSignedAt: now}}).MarshalJSON()
	if err != nil {
		return err
	}
	raw, err := signer.SignMessage(bytesReader(sigPayload))
	if err != nil {
		return failure.New(failure.Internal, ref.String(), fmt.Errorf("signing: %w", err), "")
	}
	sig, err := static.NewSignature(sigPayload, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return err
	}
	opts := registry.OCIOptions(ctx)
	se := ociremote.SignedUnknown(ref, opts...)
	if se, err = mutate.AttachSignatureToEntity(se, sig, mutate.WithDupeDetector(cremote.NewDupeDetector(signer))); err != nil {
		return failure.New(classify(err), ref.String(), err, "")
	}
	if se, err = attachStatements(se, signer, ref, stmts, now); err != nil {
		return err
	}
	g := new(errgroup.Group)
	g.Go(func() error { return ociremote.WriteSignatures(ref.Repository, se, opts...) })
	g.Go(func() error { return ociremote.WriteAttestations(ref.Repository, se, opts...) })
	if err := g.Wait(); err != nil {
		return failure.New(classify(err), ref.String(), fmt.Errorf("writing signatures: %w", err), "")
	}
	return nil
}

// Attach signs statements about ref and adds them to its attestations,
// keeping the ones already there (one manifest write).
func Attach(ctx context.Context, signer signature.SignerVerifier, ref name.Digest, stmts []Statement) error {
	return AttachReplacing(ctx, signer, ref, stmts, nil)
}

// AttachReplacing is Attach, and the attestation layers named in replaced
// (by their digests, as verification reports them) leave ref's cosign
// attestation image in the same write. A layer someone else attached after
// the caller read them is kept: only what is named goes.
func AttachReplacing(ctx context.Context, signer signature.SignerVerifier, ref name.Digest, stmts []Statement, replaced []v1.Hash) error {
	opts := registry.OCIOptions(ctx)
	var sopts []mutate.SignOption
	if len(replaced) > 0 {
		drop := dropLayers{}
		for _, h := range replaced {
			drop[h] = true
		}
		sopts = append(sopts, mutate.WithReplaceOp(drop))
	}
	se, err := attachStatements(ociremote.SignedUnknown(ref, opts...), signer, ref, stmts, time.Now().UTC().Format(time.RFC3339), sopts...)
	if err != nil {
		return err
	}
	if err := ociremote.WriteAttestations(ref.Repository, se, opts...); err != nil {
		return failure.New(classify(err), ref.String(), fmt.Errorf("writing attestations: %w", err), "")
	}
	return nil
}

// dropLayers is a cosign replace operation: the attestations whose layer
// digests it names go, and the new one is appended.
type dropLayers map[v1.Hash]bool

// Replace implements mutate.ReplaceOp.
func (d dropLayers) Replace(base oci.Signatures, att oci.Signature) (oci.Signatures, error) {
	sigs, err := base.Get()
	if err != nil {
		return nil, err
	}
	kept := make([]oci.Signature, 0, len(sigs)+1)
	for _, s := range sigs {
		h, err := s.Digest()
		if err != nil {
			return nil, err
		}
		if !d[h] {
			kept = append(kept, s)
		}
	}
	return replacedSignatures{Signatures: base, sigs: append(kept, att)}, nil
}

// replacedSignatures is base with its attestations replaced by sigs (what
// mutate.ReplaceSignatures builds the new image from).
type replacedSignatures struct {
	oci.Signatures
	sigs []oci.Signature
}

// Get implements oci.Signatures.
func (r replacedSignatures) Get() ([]oci.Signature, error) { return r.sigs, nil }

// attachStatements signs each statement (concurrently) into a DSSE envelope
// and attaches it to se, annotated with its predicate type and time.
func attachStatements(se oci.SignedEntity, signer signature.SignerVerifier, ref name.Digest, stmts []Statement, now string, opts ...mutate.SignOption) (oci.SignedEntity, error) {
	envelopes := make([][]byte, len(stmts))
	g := new(errgroup.Group)
	wrapped := dsse.WrapSigner(signer, types.IntotoPayloadType)
	for i, st := range stmts {
		g.Go(func() error {
			body, err := st.Marshal()
			if err != nil {
				return err
			}
			envelopes[i], err = wrapped.SignMessage(bytesReader(body))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, failure.New(failure.Internal, ref.String(), fmt.Errorf("signing attestations: %w", err), "")
	}
	for i, st := range stmts {
		att, err := static.NewAttestation(envelopes[i],
			static.WithLayerMediaType(types.DssePayloadType),
			static.WithAnnotations(map[string]string{"predicateType": st.PredicateType, AnnotationSignedAt: now}))
		if err != nil {
			return nil, err
		}
		if se, err = mutate.AttachAttestationToEntity(se, att, opts...); err != nil {
			return nil, failure.New(classify(err), ref.String(), err, "")
		}
	}
	return se, nil
}

// Platform is one image manifest of an index, or the image itself.
type Platform struct {
	Platform string
	Ref      name.Digest
}

// Platforms lists the platform images at ref: every image of an index
// (BuildKit's attestation manifests excluded), or ref itself.
func Platforms(ctx context.Context, ref name.Digest) ([]Platform, error) {
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		return nil, registry.Classify(ref.String(), err)
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		if rec, err := machineimage.FromImage(img); err == nil {
			return []Platform{{Platform: rec.Platform, Ref: ref}}, nil
		} else if !errors.Is(err, machineimage.ErrNotRecord) {
			return nil, registry.Classify(ref.String(), err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, registry.Classify(ref.String(), err)
		}
		platform, err := builders.PlatformOf(cf)
		if err != nil {
			return nil, failure.New(failure.Verify, ref.String(), err, "")
		}
		return []Platform{{Platform: platform, Ref: ref}}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Platform
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || registry.IsAttestationManifest(m) {
			continue
		}
		p := ""
		if m.Platform != nil {
			p = m.Platform.String()
		}
		out = append(out, Platform{Platform: p, Ref: ref.Context().Digest(m.Digest.String())})
	}
	return out, nil
}

// classify is the class registry.Classify gives err: unreachable is
// failure.Unavailable, content that does not match its digest is
// failure.Verify.
func classify(err error) failure.Class {
	return failure.ClassOf(registry.Classify("", err))
}

func digestOf(ref name.Digest) v1.Hash {
	h, _ := v1.NewHash(ref.DigestStr())
	return h
}
