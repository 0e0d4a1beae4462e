package buildkit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/registry"
)

// BuildKit annotates each attestation layer with its predicate type.
const (
	annotationPredicateType = "in-toto.io/predicate-type"
	predicateSLSAv1         = "https://slsa.dev/provenance/v1"
)

// resolvedDependencies reads the SLSA v1 provenance BuildKit attached to the
// index at ref and returns the union of its resolvedDependencies (the base
// images, pinned by digest as BuildKit resolved them), sorted by URI.
func resolvedDependencies(ref name.Digest, desc *remote.Descriptor) ([]builders.Dependency, error) {
	if !desc.MediaType.IsIndex() {
		return nil, nil // no attestations without an index
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var deps []builders.Dependency
	for _, m := range im.Manifests {
		if !registry.IsAttestationManifest(m) {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, registry.Classify(ref.String(), err)
		}
		layers, err := img.Layers()
		if err != nil {
			return nil, err
		}
		mf, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		for i, l := range layers {
			if mf.Layers[i].Annotations[annotationPredicateType] != predicateSLSAv1 {
				continue
			}
			rc, err := l.Uncompressed()
			if err != nil {
				return nil, registry.Classify(ref.String(), err)
			}
			var st struct {
				Predicate struct {
					BuildDefinition struct {
						ResolvedDependencies []builders.Dependency `json:"resolvedDependencies"`
					} `json:"buildDefinition"`
				} `json:"predicate"`
			}
			err = json.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(&st)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("decoding provenance %s: %w", mf.Layers[i].Digest, err)
			}
			for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
				key := d.URI + fmt.Sprint(d.Digest)
				if !seen[key] {
					seen[key] = true
					deps = append(deps, d)
				}
			}
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].URI < deps[j].URI })
	return deps, nil
}
