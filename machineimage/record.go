// Package machineimage is how a machine image enters the registry. A machine
// image (an AMI, a disk image, a packed rootfs) does not live in a registry,
// so bakery stores a record of it there instead: an OCI artifact whose
// artifactType is ArtifactType and whose config is a Record, naming the
// image's AMI ids per region or its files by digest, its source image and
// how it was built. The record's digest is what bakery signs, attests and
// promotes, exactly as it does a container image's digest.
package machineimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/internal/registry"
)

// ArtifactType is the OCI artifactType of a machine-image record, and the
// media type of its config.
const ArtifactType = "application/vnd.bakery.machine-image.v1+json"

// Record describes one baked machine image.
type Record struct {
	// Target is the bakery.yaml target the image was baked for.
	Target string `json:"target"`
	// Platform is os/arch of the image.
	Platform string `json:"platform"`
	// AMIs maps an AWS region to the AMI id built there; empty for builders
	// that produce files.
	AMIs map[string]string `json:"amis,omitempty"`
	// Regions lists the AMIs' regions, sorted.
	Regions []string `json:"regions,omitempty"`
	// Files are the builder's output files, by digest.
	Files []File `json:"files,omitempty"`
	// Source is the image the build started from (an AMI id or a rootfs).
	Source *Source `json:"source,omitempty"`
	// Build records how the image was made.
	Build Build `json:"build"`
}

// File is one output file of a builder.
type File struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Source is what a build started from.
type Source struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Build is the Packer side of a record.
type Build struct {
	Packer      string `json:"packer,omitempty"`
	Plugin      string `json:"plugin,omitempty"`
	BuildName   string `json:"buildName"`
	BuilderType string `json:"builderType"`
	BuilderID   string `json:"builderId"`
	ArtifactID  string `json:"artifactId"`
	StartedOn   string `json:"startedOn,omitempty"`
	FinishedOn  string `json:"finishedOn,omitempty"`
}

// ErrNotRecord means a digest is not a machine-image record.
var ErrNotRecord = errors.New("not a machine-image record")

// emptyJSON is OCI's empty descriptor content.
var emptyJSON = []byte("{}")

const mediaTypeEmpty types.MediaType = "application/vnd.oci.empty.v1+json"

// Image returns the record as an OCI 1.1 artifact: artifactType and config
// media type are ArtifactType, the config is the record, and the single layer
// is OCI's empty descriptor, as the image spec recommends for artifacts that
// carry everything in their config.
func (r *Record) Image() (v1.Image, error) {
	cfg, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	desc := func(b []byte, mt types.MediaType) (v1.Descriptor, error) {
		h, n, err := v1.SHA256(bytes.NewReader(b))
		return v1.Descriptor{MediaType: mt, Size: n, Digest: h}, err
	}
	cd, err := desc(cfg, ArtifactType)
	if err != nil {
		return nil, err
	}
	ld, err := desc(emptyJSON, mediaTypeEmpty)
	if err != nil {
		return nil, err
	}
	m := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     types.MediaType   `json:"mediaType"`
		ArtifactType  string            `json:"artifactType"`
		Config        v1.Descriptor     `json:"config"`
		Layers        []v1.Descriptor   `json:"layers"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}{2, types.OCIManifestSchema1, ArtifactType, cd, []v1.Descriptor{ld},
		map[string]string{"org.opencontainers.image.title": r.Target}}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, config: cfg})
}

// artifact is the record as ggcr's minimal compressed image.
type artifact struct{ manifest, config []byte }

func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h.String() != emptyDigest() {
		return nil, fmt.Errorf("machine-image record has no blob %s", h)
	}
	return static.NewLayer(emptyJSON, mediaTypeEmpty), nil
}

func emptyDigest() string {
	h, _, _ := v1.SHA256(bytes.NewReader(emptyJSON))
	return h.String()
}

// Push writes the record to repo by digest (no tag) and returns its digest.
func Push(ctx context.Context, repo name.Repository, r *Record) (name.Digest, int64, error) {
	img, err := r.Image()
	if err != nil {
		return name.Digest{}, 0, err
	}
	h, err := img.Digest()
	if err != nil {
		return name.Digest{}, 0, err
	}
	ref := repo.Digest(h.String())
	if err := remote.Write(ref, img, registry.Options(ctx)...); err != nil {
		return name.Digest{}, 0, registry.Classify(repo.String(), err)
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	return ref, int64(len(raw) + len(cfg) + len(emptyJSON)), nil
}

// Is reports whether a manifest is a machine-image record.
func Is(m *v1.Manifest) bool { return m != nil && m.Config.MediaType == ArtifactType }

// Read fetches the record at ref; ErrNotRecord if ref is something else.
func Read(ctx context.Context, ref name.Digest) (*Record, error) {
	img, err := remote.Image(ref, registry.Options(ctx)...)
	if err != nil {
		return nil, registry.Classify(ref.String(), err)
	}
	rec, err := FromImage(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return rec, nil
}

// FromImage decodes the record an image already fetched holds;
// ErrNotRecord if it is a container image.
func FromImage(img v1.Image) (*Record, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if !Is(m) {
		return nil, ErrNotRecord
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("reading the machine-image record: %w", err)
	}
	return &r, nil
}

// ParseAMIs reads AMI ids from a Packer artifact id in the form every amazon
// builder uses ("us-east-1:ami-0abc,eu-west-1:ami-0def"). ok is false when
// id is not in that form (the builder produced files, not AMIs).
func ParseAMIs(id string) (map[string]string, bool) {
	out := map[string]string{}
	for _, part := range strings.Split(id, ",") {
		region, ami, found := strings.Cut(strings.TrimSpace(part), ":")
		if !found || region == "" || !strings.HasPrefix(ami, "ami-") {
			return nil, false
		}
		out[region] = ami
	}
	return out, len(out) > 0
}

// SortedRegions returns the regions of amis in order.
func SortedRegions(amis map[string]string) []string {
	out := make([]string, 0, len(amis))
	for r := range amis {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
