package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// CopyStats says what a copy did.
type CopyStats struct {
	// ImageCopied is false when the destination already had the digest.
	ImageCopied bool `json:"imageCopied"`
	// Signatures and Attestations count the layers added at the destination.
	Signatures   int `json:"signaturesAdded"`
	Attestations int `json:"attestationsAdded"`
	// Referrers counts OCI 1.1 referrers (artifacts whose subject is the
	// digest) copied; through the referrers API where the destination has
	// it, else its tag schema, as go-containerregistry writes them.
	Referrers int `json:"referrersAdded"`
	// LeftBehind lists what the source carries that was not copied, and why:
	// signature or attestation layers that did not verify, referrers that are
	// about another digest.
	LeftBehind []string `json:"leftBehind,omitempty"`
}

// Trusted names the signature and attestation layers a copy may carry: the
// ones that verified at the source. A signature layer is its payload's digest
// and its signature (one payload may carry any number of signatures, forged
// ones too); an attestation layer is a DSSE envelope, whose digest covers its
// signatures.
type Trusted struct {
	Signatures, Attestations map[string]bool
}

// TrustedOf is what rep verified.
func TrustedOf(rep *attest.Report) Trusted {
	t := Trusted{Signatures: map[string]bool{}, Attestations: map[string]bool{}}
	for _, s := range rep.Signatures {
		t.Signatures[s.Layer.String()+" "+s.Signature] = true
	}
	for _, a := range rep.Attestations {
		t.Attestations[a.Layer.String()] = true
	}
	return t
}

// signatureKey and attestationKey name a layer as Trusted does.
func signatureKey(s oci.Signature) (string, error) {
	d, err := s.Digest()
	if err != nil {
		return "", err
	}
	b64, err := s.Base64Signature()
	return d.String() + " " + b64, err
}

func attestationKey(s oci.Signature) (string, error) {
	d, err := s.Digest()
	return d.String(), err
}

// Copy copies the manifest at src, everything it references (every platform
// of an index), its cosign signatures and its attestations to dst, which has
// the same digest in another repository. The manifest bytes are copied as
// they are, so the digest cannot change. go-containerregistry skips blobs the
// destination has, mounts blobs across repositories of one registry, and
// streams them once across registries. Only the signature and attestation
// layers in trusted are carried (anything else is listed in LeftBehind);
// those already at the destination are kept, only missing ones are added.
func Copy(ctx context.Context, src, dst name.Digest, trusted Trusted) (CopyStats, error) {
	var st CopyStats
	if src.DigestStr() != dst.DigestStr() {
		return st, failure.New(failure.Internal, dst.String(), errors.New("source and destination digests differ"), "")
	}
	// The image is copied while its signatures, attestations and referrers
	// are: they are disjoint sets of blobs and manifests. Those three go one
	// after another, because writing a manifest that has a subject updates
	// the subject's referrers fallback tag (sha256-<hex>), a read-modify-write
	// that two writers at once would race on. Nothing is tagged until all is
	// done, so a failure leaves only untagged content, which the same command
	// finishes when re-run.
	var img, sig, att, ref CopyStats
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return copyImage(gctx, src, dst, &img) })
	g.Go(func() error {
		if err := mergeKind(gctx, src, dst, signatureKind(trusted, &sig.Signatures), &sig); err != nil {
			return err
		}
		if err := mergeKind(gctx, src, dst, attestationKind(trusted, &att.Attestations), &att); err != nil {
			return err
		}
		return copyReferrers(gctx, src, dst, &ref)
	})
	err := g.Wait()
	st = CopyStats{ImageCopied: img.ImageCopied, Signatures: sig.Signatures, Attestations: att.Attestations, Referrers: ref.Referrers}
	for _, part := range []CopyStats{sig, att, ref} {
		st.LeftBehind = append(st.LeftBehind, part.LeftBehind...)
	}
	return st, err
}

// copyImage copies the manifest at src, and everything it references, to
// dst unless dst has it.
func copyImage(ctx context.Context, src, dst name.Digest, st *CopyStats) error {
	opts := registry.Options(ctx)
	if _, err := remote.Head(dst, opts...); err == nil || !registry.IsNotFound(err) {
		return registry.Classify(dst.String(), err)
	}
	desc, err := remote.Get(src, opts...)
	if err != nil {
		return registry.Classify(src.String(), err)
	}
	if err := writeManifest(ctx, dst, desc); err != nil {
		return err
	}
	st.ImageCopied = true
	return nil
}

// copyReferrers copies the OCI 1.1 referrers of src that dst lacks and whose
// manifest names src's digest as its subject; a listed referrer about
// anything else (anyone can push to the fallback tag) is left behind.
func copyReferrers(ctx context.Context, src, dst name.Digest, st *CopyStats) error {
	opts := registry.Options(ctx)
	list := func(d name.Digest) ([]v1.Descriptor, error) {
		idx, err := remote.Referrers(d, opts...)
		if err != nil {
			if registry.IsNotFound(err) {
				return nil, nil
			}
			return nil, registry.Classify(d.String(), err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		return im.Manifests, nil
	}
	want, err := list(src)
	if err != nil || len(want) == 0 {
		return err
	}
	have, err := list(dst)
	if err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, d := range have {
		seen[d.Digest] = true
	}
	for _, d := range want {
		if seen[d.Digest] {
			continue
		}
		from, to := src.Context().Digest(d.Digest.String()), dst.Context().Digest(d.Digest.String())
		desc, err := remote.Get(from, opts...)
		if err != nil {
			return registry.Classify(from.String(), err)
		}
		if subj := subjectOf(desc.Manifest); subj != src.DigestStr() {
			st.LeftBehind = append(st.LeftBehind, fmt.Sprintf("referrer %s: its subject is %q, not the promoted digest", d.Digest, subj))
			continue
		}
		if err := writeManifest(ctx, to, desc); err != nil {
			return err
		}
		st.Referrers++
	}
	return nil
}

// subjectOf reads the subject digest of a manifest, "" when it has none.
func subjectOf(manifest []byte) string {
	var m struct {
		Subject *v1.Descriptor `json:"subject"`
	}
	if json.Unmarshal(manifest, &m) != nil || m.Subject == nil {
		return ""
	}
	return m.Subject.Digest.String()
}

// writeManifest writes what desc holds (an image or an index) to to.
func writeManifest(ctx context.Context, to name.Digest, desc *remote.Descriptor) error {
	opts := registry.Options(ctx)
	var err error
	if desc.MediaType.IsIndex() {
		var idx v1.ImageIndex
		if idx, err = desc.ImageIndex(); err == nil {
			err = remote.WriteIndex(to, idx, opts...)
		}
	} else {
		var img v1.Image
		if img, err = desc.Image(); err == nil {
			err = remote.Write(to, img, opts...)
		}
	}
	return registry.Classify(to.String(), err)
}

// mergeKind adds src's trusted layers of one kind (signatures or
// attestations) that dst lacks. When the kind's cosign tag already points
// at the same manifest on both sides (a promotion that is already
// complete), one HEAD each tells so; when dst has none and src holds only
// trusted layers, the tag's image is copied as it is.
func mergeKind(ctx context.Context, src, dst name.Digest, k cosignKind, st *CopyStats) error {
	ociOpts := registry.OCIOptions(ctx)
	state, err := cosignTags(ctx, src, dst, k.suffix)
	if err != nil || state == tagsSame {
		return err
	}
	want, err := k.get(ociremote.SignedUnknown(src, ociOpts...))
	if err != nil {
		return registry.Classify(src.String(), err)
	}
	if state == tagMissingAtDst && k.allTrusted(want) {
		// Layers are remote layers: mounted within one registry, streamed once across.
		n, err := copyCosignTag(ctx, src, dst, k.suffix)
		*k.added = n
		return err
	}
	dstSE, err := k.merge(ociremote.SignedUnknown(dst, ociOpts...), want, st)
	if err != nil {
		return err
	}
	if *k.added > 0 {
		if err := k.write(dst.Repository, dstSE, ociOpts...); err != nil {
			return registry.Classify(dst.String(), err)
		}
	}
	return nil
}

// cosignKind is signatures or attestations, as mergeSignatures handles them.
type cosignKind struct {
	name, suffix string
	trusted      map[string]bool
	key          func(oci.Signature) (string, error)
	added        *int
	sigs         func(oci.SignedEntity) (oci.Signatures, error)
	attach       func(oci.SignedEntity, oci.Signature) (oci.SignedEntity, error)
	write        func(name.Repository, oci.SignedEntity, ...ociremote.Option) error
}

func signatureKind(t Trusted, added *int) cosignKind {
	return cosignKind{name: "signature", suffix: ".sig", trusted: t.Signatures, key: signatureKey, added: added,
		sigs: func(se oci.SignedEntity) (oci.Signatures, error) { return se.Signatures() },
		attach: func(se oci.SignedEntity, s oci.Signature) (oci.SignedEntity, error) {
			return mutate.AttachSignatureToEntity(se, s)
		},
		write: ociremote.WriteSignatures}
}

func attestationKind(t Trusted, added *int) cosignKind {
	return cosignKind{name: "attestation", suffix: ".att", trusted: t.Attestations, key: attestationKey, added: added,
		sigs: func(se oci.SignedEntity) (oci.Signatures, error) { return se.Attestations() },
		attach: func(se oci.SignedEntity, s oci.Signature) (oci.SignedEntity, error) {
			return mutate.AttachAttestationToEntity(se, s)
		},
		write: ociremote.WriteAttestations}
}

func (k cosignKind) get(se oci.SignedEntity) ([]oci.Signature, error) {
	sigs, err := k.sigs(se)
	if err != nil {
		return nil, err
	}
	return sigs.Get()
}

// merge attaches to dstSE each trusted layer of want that dst lacks, and
// lists the untrusted ones as left behind.
func (k cosignKind) merge(dstSE oci.SignedEntity, want []oci.Signature, st *CopyStats) (oci.SignedEntity, error) {
	have, err := k.get(dstSE)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range have {
		if key, err := k.key(s); err == nil {
			seen[key] = true
		}
	}
	for _, s := range want {
		key, err := k.key(s)
		if err != nil {
			return nil, err
		}
		switch {
		case seen[key]:
		case !k.trusted[key]:
			d, _ := s.Digest()
			st.LeftBehind = append(st.LeftBehind, fmt.Sprintf("%s layer %s: not verified by a trusted key for this digest", k.name, d))
		default:
			if dstSE, err = k.attach(dstSE, s); err != nil {
				return nil, err
			}
			seen[key] = true
			*k.added++
		}
	}
	return dstSE, nil
}

// allTrusted reports whether every layer of sigs verified at the source.
func (k cosignKind) allTrusted(sigs []oci.Signature) bool {
	for _, s := range sigs {
		if key, err := k.key(s); err != nil || !k.trusted[key] {
			return false
		}
	}
	return true
}

// The states of a cosign tag (sha256-<hex><suffix>) on both sides.
const (
	tagsSame        = iota // same manifest, or nothing at the source to carry
	tagMissingAtDst        // only the source has it
	tagsDiffer             // both have it, with different layers
)

// cosignTags compares src's and dst's cosign tag with one HEAD on each side.
func cosignTags(ctx context.Context, src, dst name.Digest, suffix string) (int, error) {
	tag := cosignTag(src, suffix)
	opts := registry.Options(ctx)
	s, err := remote.Head(src.Context().Tag(tag), opts...)
	if err != nil {
		if registry.IsNotFound(err) {
			return tagsSame, nil
		}
		return 0, registry.Classify(src.String(), err)
	}
	d, err := remote.Head(dst.Context().Tag(tag), opts...)
	if err != nil {
		if registry.IsNotFound(err) {
			return tagMissingAtDst, nil
		}
		return 0, registry.Classify(dst.String(), err)
	}
	if s.Digest == d.Digest {
		return tagsSame, nil
	}
	return tagsDiffer, nil
}

func cosignTag(d name.Digest, suffix string) string {
	return strings.Replace(d.DigestStr(), ":", "-", 1) + suffix
}

// copyCosignTag copies src's cosign tag image to dst as it is and returns
// how many layers (signatures or attestations) it holds.
func copyCosignTag(ctx context.Context, src, dst name.Digest, suffix string) (int, error) {
	opts := registry.Options(ctx)
	from, to := src.Context().Tag(cosignTag(src, suffix)), dst.Context().Tag(cosignTag(src, suffix))
	img, err := remote.Image(from, opts...)
	if err != nil {
		return 0, registry.Classify(from.String(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, registry.Classify(from.String(), err)
	}
	if err := remote.Write(to, img, opts...); err != nil {
		return 0, registry.Classify(to.String(), err)
	}
	return len(m.Layers), nil
}
