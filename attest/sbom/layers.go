package sbom

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha1" //nolint:gosec // SPDX 2.3 requires a SHA-1 of every file
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	stfile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/cataloging/filecataloging"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/registry"
)

// errCacheMiss says the cached path cannot answer exactly; the caller makes
// the SBOM with a full scan instead.
var errCacheMiss = errors.New("the SBOM layer cache cannot answer this image exactly")

// mimeHead is how much of every regular file stereoscope reads to detect its
// MIME type (gabriel-vasile/mimetype's read limit): an entry keeps it.
const mimeHead = 4096

// maxKept bounds the bytes one layer's entry keeps; a layer whose scan read
// more is not cached.
const maxKept = 128 << 20

// scanLayer is one layer of the image being catalogued.
type scanLayer struct {
	digest, diffID string
	tarPath        string
	entry          *layerEntry
	cached         bool
	f              *os.File
	// spans are the tar byte ranges a new layer's entry keeps: header blocks,
	// MIME heads, and whatever syft read; missed says a cached layer was read
	// outside what its entry kept.
	mu     sync.Mutex
	spans  [][2]int64
	missed atomic.Bool
}

// catalog makes the image's syft SBOM through the cache: every layer that has
// an entry is laid out again as a sparse tar (its headers and the bytes syft
// read of it, zeros elsewhere) where stereoscope looks for its unpacked
// layers, so only new layers are downloaded and decompressed; stereoscope
// and syft then run unchanged over the whole image, with syft's file hashing
// replaced by the digests the entries hold. A read of a byte an entry did not
// keep is a miss: the entry is dropped and errCacheMiss returned.
func (c *LayerCache) catalog(ctx context.Context, ref name.Digest, toolVersion string, licenses *LicenseScanner) (*syftsbom.SBOM, error) {
	// inside the cache, so that cached layers are hard-linked, not copied
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the SBOM layer cache: %w", err)
	}
	dir, err := os.MkdirTemp(c.Dir, ".scan-")
	if err != nil {
		return nil, fmt.Errorf("cataloging %s: %w", ref, err)
	}
	defer os.RemoveAll(dir)
	src, layers, err := c.open(ctx, ref, dir)
	for _, l := range layers {
		if l.f != nil {
			defer l.f.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	defer src.Close()
	digests, err := wrapOpeners(src.img, layers)
	if err != nil {
		return nil, err
	}
	s, err := createSBOM(ctx, src, toolVersion, licenses)
	if err != nil {
		return nil, err
	}
	missed := false
	for _, l := range layers {
		if l.missed.Load() {
			c.evict(l.digest)
			missed = true
		}
	}
	if missed {
		return nil, errCacheMiss
	}
	resolver, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return nil, fmt.Errorf("cataloging %s: %w", ref, err)
	}
	if err := fillDigests(s, resolver, digests); err != nil {
		return nil, err
	}
	c.storeNew(layers)
	return s, nil
}

// imageSource is syft's source for a stereoscope image bakery read itself.
type imageSource struct {
	source.Source
	img *image.Image
}

// open reads ref's manifest and config, lays out the cached layers as sparse
// tars in dir, and has stereoscope read the image (fetching only the rest),
// as syft's registry source would.
func (c *LayerCache) open(ctx context.Context, ref name.Digest, dir string) (*imageSource, []*scanLayer, error) {
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s for the SBOM: %w", ref, err)
	}
	v1img, err := desc.Image()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s for the SBOM: %w", ref, err)
	}
	layers, err := c.layout(v1img, dir)
	if err != nil {
		return nil, nil, err
	}
	raw, err := v1img.RawManifest()
	if err != nil {
		return nil, layers, fmt.Errorf("reading %s for the SBOM: %w", ref, err)
	}
	repoDigest := fmt.Sprintf("%s/%s@%s", ref.Context().RegistryStr(), ref.Context().RepositoryStr(), desc.Digest)
	tmp := stfile.NewTempDirGenerator("bakery-sbom")
	img := image.New(v1img, tmp, dir, image.WithRepoDigests(repoDigest), image.WithManifest(raw))
	if err := img.Read(ctx); err != nil {
		return nil, layers, errors.Join(fmt.Errorf("reading %s for the SBOM: %w", ref, err), img.Cleanup(), tmp.Cleanup())
	}
	src := stereoscopesource.New(img, stereoscopesource.ImageConfig{
		Reference: ref.String(),
		RegistryOptions: &image.RegistryOptions{
			InsecureUseHTTP: ref.Scheme() == "http",
			Keychain:        authn.DefaultKeychain,
		},
	})
	closeAll := &imageSource{Source: closingSource{Source: src, tmp: tmp}, img: img}
	for _, l := range layers {
		if l.f, err = os.Open(l.tarPath); err != nil {
			return nil, layers, errors.Join(fmt.Errorf("reading %s for the SBOM: %w", ref, err), closeAll.Close())
		}
		if !l.cached {
			if l.entry, l.spans, err = indexTar(l.f, l.digest, l.diffID); err != nil {
				return nil, layers, errors.Join(err, closeAll.Close())
			}
		}
	}
	return closeAll, layers, nil
}

type closingSource struct {
	source.Source
	tmp *stfile.TempDirGenerator
}

func (s closingSource) Close() error { return errors.Join(s.Source.Close(), s.tmp.Cleanup()) }

// layout loads the entry of every layer and writes each one found as the
// sparse tar stereoscope will take for the unpacked layer.
func (c *LayerCache) layout(img v1.Image, dir string) ([]*scanLayer, error) {
	v1layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	if len(cf.RootFS.DiffIDs) != len(v1layers) {
		return nil, fmt.Errorf("%w: the config lists %d diff IDs for %d layers", errCacheMiss, len(cf.RootFS.DiffIDs), len(v1layers))
	}
	layers := make([]*scanLayer, len(v1layers))
	for i, l := range v1layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		diffID := cf.RootFS.DiffIDs[i].String()
		// stereoscope's name for an unpacked layer (image.Layer.uncompressedCache)
		tarPath := filepath.Join(dir, fmt.Sprintf("%d-%s", i, strings.ReplaceAll(diffID, ":", "-")))
		sl := &scanLayer{digest: d.String(), diffID: diffID, tarPath: tarPath}
		if sl.entry, err = c.load(sl.digest, diffID, tarPath); err != nil {
			return nil, err
		}
		sl.cached = sl.entry != nil
		layers[i] = sl
	}
	return layers, nil
}

// countingReader counts what the tar reader consumed: after tar.Reader.Next
// it is the offset of the entry's data.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// indexTar reads a layer's uncompressed tar once: every entry's data offset
// and size, the SHA-1 and SHA-256 of every regular file, and the spans its
// cache entry keeps whatever syft reads (header blocks and MIME heads).
func indexTar(f *os.File, digest, diffID string) (*layerEntry, [][2]int64, error) {
	e := &layerEntry{Digest: digest, DiffID: diffID, Files: map[string]tarFile{}}
	cr := &countingReader{r: bufio.NewReaderSize(f, 1<<20)}
	tr := tar.NewReader(cr)
	var spans [][2]int64
	var end int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("indexing layer %s: %w", digest, err)
		}
		if hdr.Typeflag == tar.TypeGNUSparse || hdr.PAXRecords["GNU.sparse.major"] != "" || hdr.PAXRecords["GNU.sparse.size"] != "" {
			return nil, nil, fmt.Errorf("%w: layer %s has a sparse file", errCacheMiss, digest)
		}
		off := cr.n
		spans = append(spans, [2]int64{end, off})
		tf := tarFile{Off: off, Size: hdr.Size}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // stereoscope reads both as regular files
			tf.Regular = true
			h1, h256 := sha1.New(), sha256.New() //nolint:gosec // SPDX's file checksum
			if _, err := io.Copy(io.MultiWriter(h1, h256), tr); err != nil {
				return nil, nil, fmt.Errorf("indexing layer %s: %w", digest, err)
			}
			tf.SHA1, tf.SHA256 = hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h256.Sum(nil))
			spans = append(spans, [2]int64{off, off + min(hdr.Size, mimeHead)})
		case tar.TypeLink:
			tf.Link = hdr.Linkname
		}
		e.Files[path.Clean("/"+hdr.Name)] = tf
		end = off + (hdr.Size+511)/512*512
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("indexing layer %s: %w", digest, err)
	}
	e.Size = fi.Size()
	spans = append(spans, [2]int64{end, e.Size})
	return e, spans, nil
}

// wrapOpeners gives every file of every layer an opener that reads through
// bakery's own handle on the layer tar, recording what a new layer's readers
// touch and flagging a read of a cached layer outside what its entry kept.
// It returns the digests of the regular files, by the reference syft reads.
func wrapOpeners(img *image.Image, layers []*scanLayer) (map[stfile.ID][]file.Digest, error) {
	catalog, ok := img.FileCatalog.(*image.FileCatalog)
	if !ok {
		return nil, fmt.Errorf("%w: stereoscope's file catalog is a %T", errCacheMiss, img.FileCatalog)
	}
	digests := map[stfile.ID][]file.Digest{}
	for i, il := range img.Layers {
		if i >= len(layers) || il.Tree == nil {
			return nil, fmt.Errorf("%w: stereoscope read %d layers, bakery %d", errCacheMiss, len(img.Layers), len(layers))
		}
		l := layers[i]
		for _, ref := range il.Tree.AllFiles(stfile.AllTypes()...) {
			d, ok := dataOf(img, il, l.entry, ref)
			if !ok {
				continue
			}
			if d.Regular {
				digests[ref.ID()] = []file.Digest{{Algorithm: "sha1", Value: d.SHA1}, {Algorithm: "sha256", Value: d.SHA256}}
			}
			catalog.AssociateOpener(ref, func() (io.ReadCloser, error) {
				return &trackedReader{sr: io.NewSectionReader(l.f, d.Off, d.Size), base: d.Off, layer: l}, nil
			})
		}
	}
	return digests, nil
}

// dataOf is the tar entry whose data stereoscope serves for ref: its own, or
// for a hard link stereoscope adopted (image.adoptHardLinkInode), the data of
// the file the link names in the same layer.
func dataOf(img *image.Image, il *image.Layer, e *layerEntry, ref stfile.Reference) (tarFile, bool) {
	tf, ok := e.Files[string(ref.RealPath)]
	if !ok {
		return tarFile{}, false
	}
	if tf.Link == "" {
		return tf, true
	}
	meta, err := img.FileCatalog.Get(ref)
	if err != nil {
		return tarFile{}, false
	}
	if meta.Type == stfile.TypeHardLink {
		return tf, true // not adopted: the link's own (empty) data
	}
	exists, res, err := il.Tree.File(stfile.Path(path.Clean("/" + tf.Link)))
	if err != nil || !exists || res == nil || res.Reference == nil {
		return tarFile{}, false
	}
	target, ok := e.Files[string(res.RealPath)]
	return target, ok && target.Link == ""
}

// trackedReader reads one file's data from the layer tar.
type trackedReader struct {
	sr    *io.SectionReader
	base  int64
	layer *scanLayer
}

func (r *trackedReader) note(off int64, n int) {
	if n <= 0 {
		return
	}
	from, to := r.base+off, r.base+off+int64(n)
	l := r.layer
	if l.cached {
		if !l.entry.covered(from, to) {
			l.missed.Store(true)
		}
		return
	}
	l.mu.Lock()
	l.spans = append(l.spans, [2]int64{from, to})
	l.mu.Unlock()
}

func (r *trackedReader) Read(p []byte) (int, error) {
	off, _ := r.sr.Seek(0, io.SeekCurrent)
	n, err := r.sr.Read(p)
	r.note(off, n)
	return n, err
}

func (r *trackedReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.sr.ReadAt(p, off)
	r.note(off, n)
	return n, err
}

func (r *trackedReader) Seek(offset int64, whence int) (int64, error) {
	return r.sr.Seek(offset, whence)
}

func (r *trackedReader) Close() error { return nil }

// createSBOM runs syft as SyftConfig does, without hashing files: their
// digests come from the layer index (fillDigests).
func createSBOM(ctx context.Context, src source.Source, toolVersion string, licenses *LicenseScanner) (*syftsbom.SBOM, error) {
	ctx, cancel, err := licenses.Context(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	cfg := SyftConfig(toolVersion).WithFilesConfig(filecataloging.DefaultConfig().WithHashers())
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err != nil {
		return nil, fmt.Errorf("cataloging: %w", err)
	}
	return s, nil
}

// fillDigests sets the SHA-1 and SHA-256 of exactly the files syft's digest
// cataloger would have hashed (syft's task coordinatesForSelection for
// owned-by-package files, then filedigest.Cataloger: each path resolved in
// the squashed view, regular files only).
func fillDigests(s *syftsbom.SBOM, resolver file.Resolver, digests map[stfile.ID][]file.Digest) error {
	var coords file.CoordinateSet
	for _, r := range s.Relationships {
		if r.Type != artifact.ContainsRelationship {
			continue
		}
		if _, ok := r.From.(pkg.Package); !ok {
			continue
		}
		if c, ok := r.To.(file.Coordinates); ok {
			coords.Add(c)
		}
	}
	for p := range s.Artifacts.Packages.Enumerate() {
		coords.Add(p.Locations.CoordinateSet().ToSlice()...)
	}
	if len(coords.ToSlice()) == 0 {
		return nil
	}
	out := map[file.Coordinates][]file.Digest{}
	for _, c := range coords.ToSlice() {
		locs, err := resolver.FilesByPath(c.RealPath)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errCacheMiss, c.RealPath, err)
		}
		for _, loc := range locs {
			meta, err := resolver.FileMetadataByLocation(loc)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", errCacheMiss, c.RealPath, err)
			}
			if meta.Type != stfile.TypeRegular {
				continue
			}
			ref := loc.Reference()
			d, ok := digests[ref.ID()]
			if !ok {
				return fmt.Errorf("%w: no digest of %s", errCacheMiss, loc.RealPath)
			}
			out[loc.Coordinates] = d
		}
	}
	s.Artifacts.FileDigests = out
	return nil
}

// storeNew writes the entry of every layer that was read in full: its
// header blocks, MIME heads and every byte syft read of it.
func (c *LayerCache) storeNew(layers []*scanLayer) {
	seen := map[string]bool{}
	for _, l := range layers {
		if l.cached || seen[l.digest] {
			continue
		}
		seen[l.digest] = true
		regions, ok := keep(l.spans)
		if !ok {
			continue // not cached: the next scan reads the layer again
		}
		l.entry.Regions = regions
		_ = c.store(l.entry, l.f)
	}
}

// keep merges spans (touching, or within 512 bytes of each other) into the
// regions an entry keeps; false when they exceed maxKept.
func keep(spans [][2]int64) ([]region, bool) {
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var regions []region
	var total int64
	for _, s := range spans {
		if s[1] <= s[0] {
			continue
		}
		if n := len(regions); n > 0 && s[0] <= regions[n-1].Off+regions[n-1].Len+512 {
			last := &regions[n-1]
			end := max(last.Off+last.Len, s[1])
			total += end - (last.Off + last.Len)
			last.Len = end - last.Off
			continue
		}
		regions = append(regions, region{Off: s[0], Len: s[1] - s[0]})
		total += s[1] - s[0]
	}
	return regions, total <= maxKept
}
