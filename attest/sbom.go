package attest

import (
	"bytes"
	"context"
	"fmt"

	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/format"
	"github.com/anchore/syft/syft/format/cyclonedxjson"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/anchore/syft/syft/sbom"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	// syft's RPM cataloger needs a database/sql driver, as in syft's own CLI.
	_ "modernc.org/sqlite"
)

// SBOM is one platform's bill of materials, in the two formats bakery attaches.
type SBOM struct {
	// Platform is os/arch[/variant]; Ref is the platform manifest it describes.
	Platform  string
	Ref       name.Digest
	Packages  int
	SPDX      []byte
	CycloneDX []byte
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
// reads it from there) and is canceled with parent.
func (l *LicenseScanner) Context(parent context.Context) (context.Context, context.CancelFunc, error) {
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

// GenerateSBOM catalogs the image manifest at ref with syft, reading it from
// the registry by digest (no Docker daemon, no scanner image), and encodes
// the result as SPDX JSON and CycloneDX JSON. licenses may be nil.
func GenerateSBOM(ctx context.Context, ref name.Digest, platform, toolVersion string, licenses *LicenseScanner) (*SBOM, error) {
	s, err := catalog(ctx, ref, toolVersion, licenses)
	if err != nil {
		return nil, err
	}
	return encodeBoth(s, ref, platform)
}

// EncodeSBOM turns a syft JSON document that a builder catalogued itself
// (a machine image's packages, collected inside the machine) into the same
// SPDX and CycloneDX documents GenerateSBOM makes.
func EncodeSBOM(syftJSON []byte, ref name.Digest, platform string) (*SBOM, error) {
	s, _, _, err := format.Decode(bytes.NewReader(syftJSON))
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM of %s: %w", ref, err)
	}
	if s == nil {
		return nil, fmt.Errorf("reading the SBOM of %s: not an SBOM syft can read", ref)
	}
	return encodeBoth(s, ref, platform)
}

// catalog pulls and unpacks the image first, and only then waits for the
// license scanner, so that the two overlap.
func catalog(ctx context.Context, ref name.Digest, toolVersion string, licenses *LicenseScanner) (*sbom.SBOM, error) {
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
	if licenses != nil {
		lctx, cancel, err := licenses.Context(ctx)
		if err != nil {
			return nil, err
		}
		defer cancel()
		ctx = lctx
	}
	s, err := syft.CreateSBOM(ctx, src, syft.DefaultCreateSBOMConfig().WithTool("bakery", toolVersion))
	if err != nil {
		return nil, fmt.Errorf("cataloging %s: %w", ref, err)
	}
	return s, nil
}

// encodeBoth encodes s in the two formats bakery attaches.
func encodeBoth(s *sbom.SBOM, ref name.Digest, platform string) (*SBOM, error) {
	out := &SBOM{Platform: platform, Ref: ref, Packages: s.Artifacts.Packages.PackageCount()}
	var err error
	if out.SPDX, err = encodeSPDX(*s); err != nil {
		return nil, err
	}
	if out.CycloneDX, err = encodeCycloneDX(*s); err != nil {
		return nil, err
	}
	return out, nil
}

func encodeSPDX(s sbom.SBOM) ([]byte, error) {
	return encode(s, "SPDX", func() (sbom.FormatEncoder, error) {
		return spdxjson.NewFormatEncoderWithConfig(spdxjson.DefaultEncoderConfig())
	})
}

func encodeCycloneDX(s sbom.SBOM) ([]byte, error) {
	return encode(s, "CycloneDX", func() (sbom.FormatEncoder, error) {
		return cyclonedxjson.NewFormatEncoderWithConfig(cyclonedxjson.DefaultEncoderConfig())
	})
}

func encode(s sbom.SBOM, format string, newEncoder func() (sbom.FormatEncoder, error)) ([]byte, error) {
	enc, err := newEncoder()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := enc.Encode(&b, s); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", format, err)
	}
	return b.Bytes(), nil
}
