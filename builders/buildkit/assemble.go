package buildkit

import (
	"context"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/internal/registry"
)

// assemble makes one OCI index of the platforms that were built on
// different nodes, in the target's platform order: each part's platform
// manifests and BuildKit's attestation manifests about them, unchanged, so
// every digest they name stays valid. It pushes the index by digest to repo,
// which already holds every part.
func assemble(ctx context.Context, repo name.Repository, parts []part) (v1.Hash, error) {
	var adds []mutate.IndexAddendum
	for _, pt := range parts {
		ref := repo.Digest(pt.digest.String())
		desc, err := remote.Get(ref, registry.Options(ctx)...)
		if err != nil {
			return v1.Hash{}, registry.Classify(ref.String(), err)
		}
		if !desc.MediaType.IsIndex() {
			img, err := desc.Image()
			if err != nil {
				return v1.Hash{}, err
			}
			d := desc.Descriptor
			if p, err := platforms.Parse(pt.platform); err == nil {
				d.Platform = &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: d})
			continue
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			return v1.Hash{}, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return v1.Hash{}, registry.Classify(ref.String(), err)
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err != nil {
				return v1.Hash{}, registry.Classify(ref.String(), err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: m})
		}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	dst := repo.Digest(d.String())
	if err := remote.WriteIndex(dst, idx, registry.Options(ctx)...); err != nil {
		return v1.Hash{}, registry.Classify(dst.String(), err)
	}
	return d, nil
}
