package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Bundle is a bundle read from its tar, whose layout matched its manifest.
type Bundle struct {
	Path     string
	Manifest *Manifest
	// SignedBy is the id of the trusted key that signed the manifest.
	SignedBy string
	dir      string
	// sizes are the blobs read, by digest, each checked against its digest.
	sizes map[string]int64
	// served counts the blob reads Serve answered, by digest.
	mu     sync.Mutex
	served map[string]int
}

var blobName = regexp.MustCompile(`^blobs/sha256/[0-9a-f]{64}$`)

// Open reads the bundle at path into a private directory and checks it: the
// tar is whole; every blob's bytes hash to its name; the manifest is signed
// by one of keys; index.json and the blobs are exactly what the manifest
// lists. Anything else is a failure.Verify error that names what is wrong.
// Close removes the directory.
func Open(path string, keys []attest.TrustedKey) (*Bundle, error) {
	dir, err := os.MkdirTemp("", "bakery-bundle-")
	if err != nil {
		return nil, err
	}
	b := &Bundle{Path: path, dir: dir, sizes: map[string]int64{}, served: map[string]int{}}
	if err := b.open(keys); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close removes what Open extracted.
func (b *Bundle) Close() error { return os.RemoveAll(b.dir) }

func (b *Bundle) open(keys []attest.TrustedKey) error {
	bad, err := b.extract()
	if err != nil {
		return err
	}
	idx, err := b.index()
	if err != nil {
		return err
	}
	var mdesc *v1.Descriptor
	for i, d := range idx.Manifests {
		if d.MediaType == MediaType {
			if mdesc != nil {
				return b.fail("index.json", errors.New("names two bundle manifests"))
			}
			mdesc = &idx.Manifests[i]
		}
	}
	if mdesc == nil {
		return b.fail("index.json", errors.New("names no bundle manifest ("+MediaType+")"))
	}
	if bad[mdesc.Digest.String()] {
		return b.fail("the bundle manifest "+mdesc.Digest.String(), errors.New("does not match its digest: a byte of it was changed"))
	}
	body, err := b.read(mdesc.Digest.String())
	if err != nil {
		return b.fail("the bundle manifest "+mdesc.Digest.String(), errors.New("is missing: the bundle is truncated"))
	}
	if b.SignedBy, err = checkManifestSignature(b.Path, keys, body, mdesc.Annotations[AnnotationSignature]); err != nil {
		return err
	}
	if b.Manifest, err = parseManifest(body); err != nil {
		return err
	}
	if err := b.checkIndex(idx, mdesc.Digest.String()); err != nil {
		return err
	}
	return b.checkBlobs(bad, mdesc.Digest.String())
}

// fail is a verification failure about the bundle.
func (b *Bundle) fail(what string, err error) error {
	if what != "" {
		err = fmt.Errorf("%s %w", what, err)
	}
	return failure.New(failure.Verify, "bundle "+b.Path, err, "do not import it: export it again from the source")
}

// extract copies the tar's entries into dir, hashing every blob as it is
// read. It returns the blobs whose bytes do not match their names.
func (b *Bundle) extract() (map[string]bool, error) {
	f, err := os.Open(b.Path)
	if err != nil {
		return nil, failure.New(failure.Config, "bundle "+b.Path, err, "check the path")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// A tar holds no more bytes than its file: a sparse entry, or a header
	// that claims more, would make a small file fill the disk.
	budget := st.Size()
	bad := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			return nil, b.fail("tar", fmt.Errorf("cannot be read (%w): the bundle is truncated or not a tar", err))
		}
		name := filepath.ToSlash(filepath.Clean(hdr.Name))
		if hdr.Typeflag == tar.TypeDir || name == "blobs" || name == "blobs/sha256" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || (name != "index.json" && name != "oci-layout" && !blobName.MatchString(name)) {
			return nil, b.fail("entry "+hdr.Name, errors.New("is not part of an OCI layout"))
		}
		if sparse(hdr) || hdr.Size > budget {
			return nil, b.fail("entry "+hdr.Name, fmt.Errorf("claims %d bytes, more than the bundle holds", hdr.Size))
		}
		budget -= hdr.Size
		dst := filepath.Join(b.dir, filepath.FromSlash(name))
		if _, err := os.Stat(dst); err == nil {
			return nil, b.fail("entry "+hdr.Name, errors.New("appears twice"))
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, err
		}
		sum, n, err := copyHashed(dst, tr)
		if err != nil {
			return nil, b.fail("entry "+hdr.Name, fmt.Errorf("cannot be read (%w): the bundle is truncated", err))
		}
		if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			d := "sha256:" + hex
			b.sizes[d] = n
			if sum != hex {
				bad[d] = true
			}
		}
	}
}

// sparse reports a sparse entry (GNU or PAX), whose holes read as zeros.
func sparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func copyHashed(dst string, r io.Reader) (string, int64, error) {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func (b *Bundle) index() (*v1.IndexManifest, error) {
	raw, err := os.ReadFile(filepath.Join(b.dir, "index.json"))
	if err != nil {
		return nil, b.fail("index.json", errors.New("is missing: the bundle is truncated or not a bakery bundle"))
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, b.fail("index.json", fmt.Errorf("does not decode: %w", err))
	}
	return &idx, nil
}

// read returns a checked blob's bytes.
func (b *Bundle) read(digest string) ([]byte, error) {
	if _, ok := b.sizes[digest]; !ok {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(b.blobPath(digest))
}

func (b *Bundle) blobPath(digest string) string {
	return filepath.Join(b.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// checkBlobs: every listed blob is there, whole and unchanged, and there is
// no other.
func (b *Bundle) checkBlobs(bad map[string]bool, manifestDigest string) error {
	listed := map[string]bool{manifestDigest: true}
	var problems []string
	for _, bl := range b.Manifest.Blobs {
		listed[bl.Digest] = true
		size, ok := b.sizes[bl.Digest]
		switch {
		case !ok:
			problems = append(problems, bl.describe()+" is missing (the bundle is truncated, or it was removed)")
		case bad[bl.Digest]:
			problems = append(problems, bl.describe()+" does not match its digest (its bytes were changed)")
		case size != bl.Size:
			problems = append(problems, fmt.Sprintf("%s is %d bytes, the manifest says %d", bl.describe(), size, bl.Size))
		}
	}
	var extra []string
	for d := range b.sizes {
		if !listed[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(extra)
	for _, d := range extra {
		problems = append(problems, "blob "+d+" is not listed in the signed manifest (added after export)")
	}
	if len(problems) > 0 {
		return b.fail("", errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

// checkIndex: index.json names exactly the manifest's objects, by digest.
func (b *Bundle) checkIndex(idx *v1.IndexManifest, manifestDigest string) error {
	var problems []string
	seen := map[string]bool{}
	for _, d := range idx.Manifests {
		if d.Digest.String() == manifestDigest {
			continue
		}
		role := d.Annotations[AnnotationRole]
		seen[role] = true
		i := slices.IndexFunc(b.Manifest.Objects, func(o Object) bool { return o.Role == role })
		switch {
		case i < 0:
			problems = append(problems, fmt.Sprintf("index.json names %s %s, which the signed manifest does not list", role, d.Digest))
		case b.Manifest.Objects[i].Digest != d.Digest.String():
			problems = append(problems, fmt.Sprintf("index.json names %s %s, the signed manifest lists %s (it was replaced after export)", role, d.Digest, b.Manifest.Objects[i].Digest))
		}
	}
	for _, o := range b.Manifest.Objects {
		if !seen[o.Role] {
			problems = append(problems, fmt.Sprintf("index.json does not name the %s %s", o.Role, o.Digest))
		}
	}
	if len(problems) > 0 {
		return b.fail("", errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

// File returns the bytes of the bundle's files of role, by name.
func (b *Bundle) File(role string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range b.Manifest.Files {
		if f.Role != role {
			continue
		}
		body, err := b.read(f.Digest)
		if err != nil {
			return nil, b.fail(f.Role+" "+f.Name, err)
		}
		out[f.Name] = body
	}
	return out, nil
}
