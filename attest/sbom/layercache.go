package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// DefaultLayerCacheMaxBytes bounds the SBOM layer cache unless configured
// (sbom.cache_max_mib).
const DefaultLayerCacheMaxBytes = 512 << 20

// LayerCache is the local SBOM layer cache: per image layer, keyed by the
// layer's (compressed, registry-verified) digest, what syft needs to catalog
// that layer again without downloading or decompressing it. docs/sbom-cache.md
// describes what an entry holds and why the result is exactly that of a full
// scan. Entries are written atomically (a temporary file renamed into place),
// checked on every read (a SHA-256 of the entry, the layer digest and diff ID
// it claims), and the directory is trimmed to MaxBytes, least recently used
// first (by modification time, which a hit refreshes).
type LayerCache struct {
	// Dir holds one file per layer, named after its digest.
	Dir string
	// MaxBytes bounds the sum of the entries' sizes; 0 means
	// DefaultLayerCacheMaxBytes.
	MaxBytes int64
}

// DefaultLayerCacheDir is $XDG_CACHE_HOME/bakery/sbom-layers (on Linux,
// ~/.cache/bakery/sbom-layers when XDG_CACHE_HOME is unset).
func DefaultLayerCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the SBOM layer cache: %w", err)
	}
	return filepath.Join(dir, "bakery", "sbom-layers"), nil
}

// LayerCacheFor is the cache sbom.cache_dir and sbom.cache_max_mib
// configure, or nil when sbom.cache_dir is off.
func LayerCacheFor(cfg config.SBOM) (*LayerCache, error) {
	if cfg.CacheDir == config.SBOMCacheOff {
		return nil, nil
	}
	c := &LayerCache{Dir: cfg.CacheDir, MaxBytes: int64(cfg.CacheMaxMiB) << 20}
	if c.Dir == "" {
		dir, err := DefaultLayerCacheDir()
		if err != nil {
			return nil, failure.New(failure.Config, "sbom.cache_dir", err, "set sbom.cache_dir, or off")
		}
		c.Dir = dir
	}
	return c, nil
}

// layerEntry is one cached layer. On disk it is two files named after the
// layer digest: DIGEST.tar, the layer's uncompressed tar as a sparse file
// that holds only the kept bytes at their offsets (every header block, the
// first bytes of every regular file that stereoscope reads to detect its
// MIME type, and every byte syft's catalogers read), and DIGEST.idx, this
// struct, with a SHA-256 of itself and a CRC-32C of each kept region.
type layerEntry struct {
	// Digest is the compressed layer's digest (the cache key); DiffID the
	// uncompressed tar's, as the image config records it.
	Digest, DiffID string
	// Size is the uncompressed tar's size.
	Size int64
	// Regions are the kept byte ranges of the tar, sorted and not
	// overlapping; every other byte reads as zero and must not be read.
	Regions []region
	// Files are the tar's entries by cleaned absolute path (the last entry
	// of a path wins, as in stereoscope's tree).
	Files map[string]tarFile
}

type region struct {
	Off, Len int64
	CRC      uint32
}

// tarFile is one tar entry's data section and, for a regular file, its digests.
type tarFile struct {
	Off, Size    int64
	Regular      bool
	SHA1, SHA256 string
	// Link is a hard link's target, as the tar names it.
	Link string
}

// errCacheEntry marks an entry that is unreadable or does not describe the
// layer it is filed under.
var errCacheEntry = errors.New("SBOM layer cache entry is corrupt or does not match its layer")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (c *LayerCache) path(digest, ext string) string {
	return filepath.Join(c.Dir, strings.ReplaceAll(digest, ":", "-")+ext)
}

// load returns the entry of the layer with digest and diffID, or nil when
// there is none or it fails its checks (it is then removed). The entry's tar
// is linked (or copied) to tarPath.
func (c *LayerCache) load(digest, diffID, tarPath string) (*layerEntry, error) {
	b, err := os.ReadFile(c.path(digest, ".idx"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM layer cache: %w", err)
	}
	e, err := decodeEntry(b)
	if err == nil && (e.Digest != digest || e.DiffID != diffID) {
		err = fmt.Errorf("%w: filed under %s (diff ID %s), describes %s (diff ID %s)", errCacheEntry, digest, diffID, e.Digest, e.DiffID)
	}
	if err == nil {
		err = e.check()
	}
	if err == nil {
		err = c.linkTar(e, tarPath)
	}
	if err != nil {
		c.evict(digest)
		return nil, nil //nolint:nilerr // a bad entry is a miss: the layer is read again
	}
	now := time.Now()
	_ = os.Chtimes(c.path(digest, ".idx"), now, now) // least recently used goes first
	return e, nil
}

// linkTar checks the entry's tar against the CRCs of its regions and links
// it to tarPath (a hard link: a trim by another process cannot pull it away).
func (c *LayerCache) linkTar(e *layerEntry, tarPath string) error {
	p := c.path(e.Digest, ".tar")
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("%w: %w", errCacheEntry, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != e.Size {
		return fmt.Errorf("%w: the tar is not %d bytes", errCacheEntry, e.Size)
	}
	var buf []byte
	for _, r := range e.Regions {
		if int64(cap(buf)) < r.Len {
			buf = make([]byte, r.Len)
		}
		if _, err := f.ReadAt(buf[:r.Len], r.Off); err != nil {
			return fmt.Errorf("%w: %w", errCacheEntry, err)
		}
		if crc32.Checksum(buf[:r.Len], castagnoli) != r.CRC {
			return fmt.Errorf("%w: region at %d fails its CRC", errCacheEntry, r.Off)
		}
	}
	if err := os.Link(p, tarPath); err != nil {
		return fmt.Errorf("linking a cached layer: %w", err)
	}
	return nil
}

// check verifies the entry's structure: regions in order and inside the tar,
// and every file's data section inside the tar.
func (e *layerEntry) check() error {
	var end int64
	for _, r := range e.Regions {
		if r.Off < end || r.Len < 0 || r.Off+r.Len > e.Size {
			return fmt.Errorf("%w: region at %d out of order or outside the layer", errCacheEntry, r.Off)
		}
		end = r.Off + r.Len
	}
	for p, f := range e.Files {
		if f.Off < 0 || f.Size < 0 || f.Off+f.Size > e.Size {
			return fmt.Errorf("%w: %s lies outside the layer", errCacheEntry, p)
		}
	}
	return nil
}

// covered reports whether the tar bytes [from, to) are all kept.
func (e *layerEntry) covered(from, to int64) bool {
	if to <= from {
		return true
	}
	i := sort.Search(len(e.Regions), func(i int) bool {
		r := e.Regions[i]
		return r.Off+r.Len > from
	})
	for ; i < len(e.Regions) && from < to; i++ {
		r := e.Regions[i]
		if r.Off > from {
			return false
		}
		from = r.Off + r.Len
	}
	return from >= to
}

// store writes e, whose kept bytes are read from the layer tar src: the tar
// first, then the index that makes the entry visible, each atomically
// (a temporary file renamed into place). It then trims the cache.
func (c *LayerCache) store(e *layerEntry, src io.ReaderAt) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the SBOM layer cache: %w", err)
	}
	err := c.writeAtomic(c.path(e.Digest, ".tar"), func(f *os.File) error {
		if err := f.Truncate(e.Size); err != nil {
			return err
		}
		for i, r := range e.Regions {
			b := make([]byte, r.Len)
			if _, err := src.ReadAt(b, r.Off); err != nil {
				return err
			}
			e.Regions[i].CRC = crc32.Checksum(b, castagnoli)
			if _, err := f.WriteAt(b, r.Off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if err := c.writeAtomic(c.path(e.Digest, ".idx"), func(f *os.File) error {
		_, err := f.Write(b)
		return err
	}); err != nil {
		return err
	}
	return c.trim()
}

func (c *LayerCache) writeAtomic(p string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(c.Dir, ".partial-")
	if err != nil {
		return fmt.Errorf("writing the SBOM layer cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("writing the SBOM layer cache: %w", err)
	}
	return nil
}

// evict removes the entry of digest (it is bad, or a scan needed bytes it
// had not kept).
func (c *LayerCache) evict(digest string) {
	_ = os.Remove(c.path(digest, ".idx"))
	_ = os.Remove(c.path(digest, ".tar"))
}

// trim removes the least recently used entries (by their index's
// modification time) until the space the rest use on disk fits MaxBytes.
func (c *LayerCache) trim() error {
	limit := c.MaxBytes
	if limit <= 0 {
		limit = DefaultLayerCacheMaxBytes
	}
	des, err := os.ReadDir(c.Dir)
	if err != nil {
		return fmt.Errorf("trimming the SBOM layer cache: %w", err)
	}
	type use struct {
		digest string
		used   int64
		mtime  time.Time
	}
	var uses []use
	var total int64
	for _, de := range des {
		digest, ok := strings.CutSuffix(de.Name(), ".idx")
		if !ok || !strings.HasPrefix(digest, "sha256-") {
			continue
		}
		digest = strings.Replace(digest, "-", ":", 1)
		idx, err := de.Info()
		if err != nil {
			continue
		}
		u := use{digest: digest, used: diskUsage(idx), mtime: idx.ModTime()}
		if tar, err := os.Stat(c.path(digest, ".tar")); err == nil {
			u.used += diskUsage(tar)
		}
		uses = append(uses, u)
		total += u.used
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].mtime.Before(uses[j].mtime) })
	for _, u := range uses {
		if total <= limit {
			break
		}
		c.evict(u.digest)
		total -= u.used
	}
	return nil
}

// diskUsage is the space a (sparse) file takes on disk.
func diskUsage(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// entryMagic starts every index file; the format version is in it.
const entryMagic = "bakery-sbom-layer-v1\n"

// encodeEntry is magic, the SHA-256 of the payload, then the gob payload.
func encodeEntry(e *layerEntry) ([]byte, error) {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(e); err != nil {
		return nil, fmt.Errorf("encoding an SBOM layer cache entry: %w", err)
	}
	sum := sha256.Sum256(payload.Bytes())
	out := make([]byte, 0, len(entryMagic)+len(sum)+payload.Len())
	out = append(append(append(out, entryMagic...), sum[:]...), payload.Bytes()...)
	return out, nil
}

func decodeEntry(b []byte) (*layerEntry, error) {
	if !bytes.HasPrefix(b, []byte(entryMagic)) || len(b) < len(entryMagic)+sha256.Size {
		return nil, fmt.Errorf("%w: not an entry", errCacheEntry)
	}
	b = b[len(entryMagic):]
	payload := b[sha256.Size:]
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], b[:sha256.Size]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCacheEntry)
	}
	var e layerEntry
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %w", errCacheEntry, err)
	}
	return &e, nil
}
