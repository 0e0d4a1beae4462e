// Package sbom makes the software bills of materials bakery attaches: it
// catalogs a platform image with syft (through the layer cache, so that a
// rebuild on a cached base reads only its new layers), or takes the catalog a
// builder made itself, and encodes it as SPDX 2.3 and CycloneDX JSON under
// bakery's identity. It reads SBOM documents back (PrintPackageTable).
// Signing and attaching them is attest's work: attest imports sbom, never the
// other way round.
package sbom

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/cataloging/filecataloging"
	"github.com/anchore/syft/syft/format"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/format/common/spdxhelpers"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/uuid"
	"github.com/spdx/tools-golang/spdx"

	// syft's RPM cataloger needs a database/sql driver named sqlite: the one
	// grype's database layer registers (a modernc fork), so that a binary
	// with both registers it once, as grype's own CLI does.
	_ "github.com/glebarez/go-sqlite"
)

// Document is one platform's bill of materials, in the two formats bakery attaches.
type Document struct {
	// Platform is os/arch[/variant]; Ref is the platform manifest it describes.
	Platform  string
	Ref       name.Digest
	Packages  int
	SPDX      []byte
	CycloneDX []byte
}

// Identity is who an SBOM names as its author: bakery at Version, for
// Organization (sbom.organization), with SPDX document namespaces under
// Namespace (sbom.namespace).
type Identity struct {
	Version      string
	Organization string
	Namespace    string
}

// DefaultNamespace is the SPDX document namespace base when sbom.namespace is
// unset: the base the SPDX project's own tools use.
const DefaultNamespace = "https://spdx.org/spdxdocs"

// CycloneDXVersion is the CycloneDX specVersion bakery writes.
const CycloneDXVersion = cyclonedx.SpecVersion1_7

// SyftConfig is how bakery runs syft, for containers and machine images
// alike: as syft's CLI does by default, files owned by packages are hashed
// with SHA-1 and SHA-256 (SPDX 2.3 requires a SHA-1 of every file, and
// package verification codes are made from them).
func SyftConfig(toolVersion string) *syft.CreateSBOMConfig {
	return syft.DefaultCreateSBOMConfig().
		WithTool("bakery", toolVersion).
		WithFilesConfig(filecataloging.DefaultConfig().WithHashers(crypto.SHA1, crypto.SHA256))
}

// LicenseScanner holds syft's license scanner, whose matcher takes about a
// second of CPU to build. It is built once, in the background from the
// moment it is created (while BuildKit builds), and shared by every SBOM.
type LicenseScanner struct {
	ready chan struct{}
	ctx   context.Context // carries the scanner as a context value
	err   error
}

// NewLicenseScanner starts building the license scanner.
func NewLicenseScanner() *LicenseScanner {
	l := &LicenseScanner{ready: make(chan struct{})}
	go func() {
		defer close(l.ready)
		l.ctx, l.err = syft.SetContextLicenseScanner(context.Background(), cataloging.DefaultLicenseConfig())
	}()
	return l
}

// Context waits for the scanner and returns a context that carries it (syft
// reads it from there) and is canceled with parent. A nil scanner returns
// parent as it is.
func (l *LicenseScanner) Context(parent context.Context) (context.Context, context.CancelFunc, error) {
	if l == nil {
		return parent, func() {}, nil
	}
	select {
	case <-l.ready:
	case <-parent.Done():
		return nil, nil, parent.Err()
	}
	if l.err != nil {
		return nil, nil, l.err
	}
	ctx, cancel := context.WithCancel(l.ctx)
	stop := context.AfterFunc(parent, cancel)
	return ctx, func() { stop(); cancel() }, nil
}

// Generate catalogs the image manifest at ref with syft, reading it from
// the registry by digest (no Docker daemon, no scanner image), and encodes
// the result as SPDX JSON and CycloneDX JSON. licenses may be nil.
func Generate(ctx context.Context, ref name.Digest, platform string, id Identity, licenses *LicenseScanner) (*Document, error) {
	return GenerateCached(ctx, ref, platform, id, licenses, nil)
}

// GenerateCached is Generate through the SBOM layer cache: the layers
// cache holds are not downloaded again, and the layers it lacks are added to
// it. Whenever the cache cannot answer exactly (an entry is missing bytes a
// cataloger reads, or anything else fails on that path), the SBOM is made by
// the full scan, as without a cache. cache may be nil.
func GenerateCached(ctx context.Context, ref name.Digest, platform string, id Identity, licenses *LicenseScanner, cache *LayerCache) (*Document, error) {
	if cache != nil {
		s, err := cache.catalog(ctx, ref, id.Version, licenses)
		if err == nil {
			return encodeBoth(s, ref, platform, id)
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	s, err := catalog(ctx, ref, id.Version, licenses)
	if err != nil {
		return nil, err
	}
	return encodeBoth(s, ref, platform, id)
}

// Encode turns a syft JSON document that a builder catalogued itself
// (a machine image's packages, collected inside the machine) into the same
// SPDX and CycloneDX documents Generate makes.
func Encode(syftJSON []byte, ref name.Digest, platform string, id Identity) (*Document, error) {
	s, _, _, err := format.Decode(bytes.NewReader(syftJSON))
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM of %s: %w", ref, err)
	}
	if s == nil {
		return nil, fmt.Errorf("reading the SBOM of %s: not an SBOM syft can read", ref)
	}
	return encodeBoth(s, ref, platform, id)
}

// catalog pulls and unpacks the image first, and only then waits for the
// license scanner, so that the two overlap.
func catalog(ctx context.Context, ref name.Digest, toolVersion string, licenses *LicenseScanner) (*syftsbom.SBOM, error) {
	srcCfg := syft.DefaultGetSourceConfig().
		WithSources("registry").
		WithRegistryOptions(&image.RegistryOptions{
			InsecureUseHTTP: ref.Scheme() == "http",
			Keychain:        authn.DefaultKeychain,
		})
	src, err := syft.GetSource(ctx, ref.String(), srcCfg)
	if err != nil {
		return nil, fmt.Errorf("reading %s for the SBOM: %w", ref, err)
	}
	defer src.Close()
	ctx, cancel, err := licenses.Context(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	s, err := syft.CreateSBOM(ctx, src, SyftConfig(toolVersion))
	if err != nil {
		return nil, fmt.Errorf("cataloging %s: %w", ref, err)
	}
	return s, nil
}

// encodeBoth encodes s in the two formats bakery attaches.
func encodeBoth(s *syftsbom.SBOM, ref name.Digest, platform string, id Identity) (*Document, error) {
	out := &Document{Platform: platform, Ref: ref, Packages: s.Artifacts.Packages.PackageCount()}
	var err error
	if out.SPDX, err = encodeSPDX(*s, ref, id); err != nil {
		return nil, err
	}
	if out.CycloneDX, err = encodeCycloneDX(*s, id); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeSPDX writes SPDX 2.3 JSON whose creators are bakery and the
// organization, and whose namespace is unique and under id.Namespace.
func encodeSPDX(s syftsbom.SBOM, ref name.Digest, id Identity) ([]byte, error) {
	doc := spdxhelpers.ToFormatModel(s)
	if doc == nil || doc.CreationInfo == nil {
		return nil, fmt.Errorf("encoding SPDX for %s: syft made no document", ref)
	}
	doc.CreationInfo.Creators = []spdx.Creator{{CreatorType: "Tool", Creator: "bakery-" + toolVersion(id.Version)}}
	if id.Organization != "" {
		doc.CreationInfo.Creators = append(doc.CreationInfo.Creators, spdx.Creator{CreatorType: "Organization", Creator: id.Organization})
	}
	doc.DocumentNamespace = Namespace(id.Namespace, ref)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding SPDX for %s: %w", ref, err)
	}
	return b.Bytes(), nil
}

// Namespace is the SPDX document namespace of one SBOM of ref: under base
// (DefaultNamespace when empty), the repository path, the platform
// manifest's digest and a random UUID, since SPDX wants a new namespace for
// every document, even a second one about the same digest.
func Namespace(base string, ref name.Digest) string {
	if base == "" {
		base = DefaultNamespace
	}
	hex := strings.TrimPrefix(ref.DigestStr(), "sha256:")
	return strings.TrimSuffix(base, "/") + "/" + (&url.URL{Path: ref.Context().RepositoryStr()}).EscapedPath() +
		"/sha256-" + hex + "-" + uuid.NewString()
}

// encodeCycloneDX writes CycloneDX JSON at CycloneDXVersion; the organization
// is the BOM's manufacturer (the organization that made the BOM).
func encodeCycloneDX(s syftsbom.SBOM, id Identity) ([]byte, error) {
	bom := cyclonedxhelpers.ToFormatModel(s)
	if id.Organization != "" {
		if bom.Metadata == nil {
			bom.Metadata = &cyclonedx.Metadata{}
		}
		bom.Metadata.Manufacturer = &cyclonedx.OrganizationalEntity{Name: id.Organization}
	}
	var b bytes.Buffer
	enc := cyclonedx.NewBOMEncoder(&b, cyclonedx.BOMFileFormatJSON)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, CycloneDXVersion); err != nil {
		return nil, fmt.Errorf("encoding CycloneDX: %w", err)
	}
	return b.Bytes(), nil
}

func toolVersion(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}
