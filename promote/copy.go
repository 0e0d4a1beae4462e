package promote

import (
	"context"
	"errors"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

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
}

// Copy copies the manifest at src, everything it references (every platform
// of an index), its cosign signatures and its attestations to dst, which has
// the same digest in another repository. The manifest bytes are copied as
// they are, so the digest cannot change. go-containerregistry skips blobs the
// destination has, mounts blobs across repositories of one registry, and
// streams them once across registries. Signatures and attestations already at
// the destination are kept; only missing layers are added.
func Copy(ctx context.Context, src, dst name.Digest) (CopyStats, error) {
	var st CopyStats
	if src.DigestStr() != dst.DigestStr() {
		return st, failure.New(failure.Internal, dst.String(), errors.New("source and destination digests differ"), "")
	}
	opts := registry.Options(ctx)
	if _, err := remote.Head(dst, opts...); err != nil {
		if !registry.IsNotFound(err) {
			return st, registry.Classify(dst.String(), err)
		}
		desc, err := remote.Get(src, opts...)
		if err != nil {
			return st, registry.Classify(src.String(), err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err != nil {
				return st, err
			}
			err = remote.WriteIndex(dst, idx, opts...)
			if err != nil {
				return st, registry.Classify(dst.String(), err)
			}
		} else {
			img, err := desc.Image()
			if err != nil {
				return st, err
			}
			if err := remote.Write(dst, img, opts...); err != nil {
				return st, registry.Classify(dst.String(), err)
			}
		}
		st.ImageCopied = true
	}
	n, err := mergeSignatures(ctx, src, dst)
	st.Signatures, st.Attestations = n[0], n[1]
	if err != nil {
		return st, err
	}
	st.Referrers, err = copyReferrers(ctx, src, dst)
	return st, err
}

// copyReferrers copies the OCI 1.1 referrers of src that dst lacks.
func copyReferrers(ctx context.Context, src, dst name.Digest) (int, error) {
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
		return 0, err
	}
	have, err := list(dst)
	if err != nil {
		return 0, err
	}
	seen := map[v1.Hash]bool{}
	for _, d := range have {
		seen[d.Digest] = true
	}
	n := 0
	for _, d := range want {
		if seen[d.Digest] {
			continue
		}
		from, to := src.Context().Digest(d.Digest.String()), dst.Context().Digest(d.Digest.String())
		desc, err := remote.Get(from, opts...)
		if err != nil {
			return n, registry.Classify(from.String(), err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err == nil {
				err = remote.WriteIndex(to, idx, opts...)
			}
			if err != nil {
				return n, registry.Classify(to.String(), err)
			}
		} else {
			img, err := desc.Image()
			if err == nil {
				err = remote.Write(to, img, opts...)
			}
			if err != nil {
				return n, registry.Classify(to.String(), err)
			}
		}
		n++
	}
	return n, nil
}

// mergeSignatures adds src's signature and attestation layers that dst lacks.
// When a kind's cosign tag already points at the same manifest on both sides
// (a promotion that is already complete), one HEAD each tells so.
func mergeSignatures(ctx context.Context, src, dst name.Digest) ([2]int, error) {
	var added [2]int
	ociOpts := []ociremote.Option{ociremote.WithRemoteOptions(registry.Options(ctx)...)}
	srcSE := ociremote.SignedUnknown(src, ociOpts...)
	dstSE := ociremote.SignedUnknown(dst, ociOpts...)
	for i, kind := range []string{"signatures", "attestations"} {
		suffix := map[string]string{"signatures": ".sig", "attestations": ".att"}[kind]
		state, err := cosignTags(ctx, src, dst, suffix)
		if err != nil {
			return added, err
		}
		switch state {
		case tagsSame:
			continue
		case tagMissingAtDst:
			// Copy the whole signature image: its layers are remote layers,
			// so they are mounted within one registry and streamed once across.
			n, err := copyCosignTag(ctx, src, dst, suffix)
			if err != nil {
				return added, err
			}
			added[i] = n
			continue
		}
		get := func(se oci.SignedEntity) ([]oci.Signature, error) {
			var sigs oci.Signatures
			var err error
			if kind == "signatures" {
				sigs, err = se.Signatures()
			} else {
				sigs, err = se.Attestations()
			}
			if err != nil {
				return nil, err
			}
			return sigs.Get()
		}
		have, err := get(dstSE)
		if err != nil {
			return added, registry.Classify(dst.String(), err)
		}
		want, err := get(srcSE)
		if err != nil {
			return added, registry.Classify(src.String(), err)
		}
		seen := map[v1.Hash]bool{}
		for _, s := range have {
			if d, err := s.Digest(); err == nil {
				seen[d] = true
			}
		}
		for _, s := range want {
			d, err := s.Digest()
			if err != nil {
				return added, err
			}
			if seen[d] {
				continue
			}
			if kind == "signatures" {
				dstSE, err = mutate.AttachSignatureToEntity(dstSE, s)
			} else {
				dstSE, err = mutate.AttachAttestationToEntity(dstSE, s)
			}
			if err != nil {
				return added, err
			}
			added[i]++
		}
	}
	if added[0] > 0 {
		if err := ociremote.WriteSignatures(dst.Repository, dstSE, ociOpts...); err != nil {
			return added, registry.Classify(dst.String(), err)
		}
	}
	if added[1] > 0 {
		if err := ociremote.WriteAttestations(dst.Repository, dstSE, ociOpts...); err != nil {
			return added, registry.Classify(dst.String(), err)
		}
	}
	return added, nil
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
