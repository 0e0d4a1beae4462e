package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec // dpkg's md5sums
	"crypto/sha1" //nolint:gosec // SPDX's file checksum
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bakeryhq/bakery/attest/sbomtest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
)

// blobRegistry is an in-process registry that counts the blob reads of
// each digest.
type blobRegistry struct {
	*bakerytest.Registry
	mu    sync.Mutex
	reads map[string]int
}

func newBlobRegistry(t testing.TB) *blobRegistry {
	t.Helper()
	r := &blobRegistry{reads: map[string]int{}}
	h := bakerytest.Handler()
	r.Registry = bakerytest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if i := strings.Index(req.URL.Path, "/blobs/sha256:"); i >= 0 && req.Method == http.MethodGet {
			r.mu.Lock()
			r.reads[req.URL.Path[i+len("/blobs/"):]]++
			r.mu.Unlock()
		}
		h.ServeHTTP(w, req)
	}))
	return r
}

func (r *blobRegistry) readsOf(t *testing.T, l v1.Layer) int {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads[d.String()]
}

// pushLayers pushes an image of layers as linux/amd64.
func (r *blobRegistry) pushLayers(t testing.TB, repo string, layers ...v1.Layer) name.Digest {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return r.Push(t, repo, bakerytest.WithPlatform(t, img, "linux/amd64"))
}

// entry is one tar member: a regular file, or with typeflag a link,
// directory or whiteout ("" content).
type entry struct {
	name, content string
	typeflag      byte
	link          string
}

func tarLayer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Linkname: e.link}
		switch e.typeflag {
		case 0:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.content))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func md5sums(files map[string]string, paths ...string) string {
	var s strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&s, "%x  %s\n", md5.Sum([]byte(files[p])), p) //nolint:gosec // dpkg's md5sums
	}
	return s.String()
}

func stanza(pkg, version string) string {
	return "Package: " + pkg + "\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 10\n" +
		"Maintainer: Example <" + pkg + "@example.com>\nArchitecture: amd64\nVersion: " + version + "\nDescription: " + pkg + "\n\n"
}

// debianLayers are a Debian root with three packages, and a layer on it
// that rewrites dpkg's status: hello upgraded (new binary, .list and
// .md5sums), libfoo1 removed (its files whited out), and an opaque
// directory replaced.
func debianLayers(t *testing.T) (base, upgrade v1.Layer) {
	t.Helper()
	f := map[string]string{
		"usr/bin/hello":                   "#!/bin/sh\necho hello\n",
		"usr/share/doc/hello/copyright":   "Files: *\nLicense: GPL-3.0-or-later\n",
		"usr/lib/libfoo.so.1":             strings.Repeat("foo", 3000),
		"usr/share/doc/libfoo1/copyright": "Files: *\nLicense: MIT\n",
	}
	base = tarLayer(t,
		entry{name: "etc/os-release", content: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"},
		entry{name: "var/lib/dpkg/status", content: stanza("hello", "2.10-3") + stanza("base-files", "12.4+deb12u5") + stanza("libfoo1", "1.0-1")},
		entry{name: "var/lib/dpkg/info/hello.list", content: "/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/bin/hello-again\n/usr/share/doc/hello/copyright\n"},
		entry{name: "var/lib/dpkg/info/hello.md5sums", content: md5sums(f, "usr/bin/hello", "usr/share/doc/hello/copyright")},
		entry{name: "var/lib/dpkg/info/libfoo1.list", content: "/.\n/usr/lib/libfoo.so.1\n/usr/share/doc/libfoo1/copyright\n"},
		entry{name: "var/lib/dpkg/info/libfoo1.md5sums", content: md5sums(f, "usr/lib/libfoo.so.1")},
		entry{name: "var/lib/dpkg/info/base-files.list", content: "/.\n/etc\n/etc/os-release\n"},
		entry{name: "usr/bin/hello", content: f["usr/bin/hello"]},
		entry{name: "usr/bin/hello-again", typeflag: tar.TypeLink, link: "usr/bin/hello"},
		entry{name: "usr/share/doc/hello/copyright", content: f["usr/share/doc/hello/copyright"]},
		entry{name: "usr/lib/libfoo.so.1", content: f["usr/lib/libfoo.so.1"]},
		entry{name: "usr/share/doc/libfoo1/copyright", content: f["usr/share/doc/libfoo1/copyright"]},
		entry{name: "opt/data/", typeflag: tar.TypeDir},
		entry{name: "opt/data/old.txt", content: "old\n"},
	)
	f["usr/bin/hello"] = "#!/bin/sh\necho 'hello, upgraded'\n"
	f["usr/share/hello/greeting"] = "hi\n"
	upgrade = tarLayer(t,
		entry{name: "var/lib/dpkg/status", content: stanza("hello", "2.10-4") + stanza("base-files", "12.4+deb12u5")},
		entry{name: "var/lib/dpkg/info/hello.list", content: "/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/share/doc/hello/copyright\n/usr/share/hello/greeting\n"},
		entry{name: "var/lib/dpkg/info/hello.md5sums", content: md5sums(f, "usr/bin/hello", "usr/share/doc/hello/copyright", "usr/share/hello/greeting")},
		entry{name: "var/lib/dpkg/info/.wh.libfoo1.list"},
		entry{name: "var/lib/dpkg/info/.wh.libfoo1.md5sums"},
		entry{name: "usr/lib/.wh.libfoo.so.1"},
		entry{name: "usr/share/doc/.wh.libfoo1"},
		entry{name: "usr/bin/.wh.hello-again"},
		entry{name: "usr/bin/hello", content: f["usr/bin/hello"]},
		entry{name: "usr/share/hello/greeting", content: f["usr/share/hello/greeting"]},
		entry{name: "opt/data/.wh..wh..opq"},
		entry{name: "opt/data/new.txt", content: "new\n"},
	)
	return base, upgrade
}

var volatile = regexp.MustCompile(`"(documentNamespace|created|serialNumber|timestamp)":"[^"]*"`)

// sameSBOM fails unless got and want are the same documents but for the
// fields that differ between any two runs (namespace, creation time,
// CycloneDX serial number and timestamp), and both pass the validators.
func sameSBOM(t *testing.T, got, want *Document) {
	t.Helper()
	for _, d := range []struct {
		kind      string
		got, want []byte
	}{{"SPDX", got.SPDX, want.SPDX}, {"CycloneDX", got.CycloneDX, want.CycloneDX}} {
		g, w := volatile.ReplaceAll(d.got, []byte(`"$1":""`)), volatile.ReplaceAll(d.want, []byte(`"$1":""`))
		if !bytes.Equal(g, w) {
			t.Errorf("%s of the layered path differs from the full scan's:\n%s", d.kind, firstDiff(g, w))
		}
	}
	if err := sbomtest.SPDX(got.SPDX); err != nil {
		t.Errorf("SPDX: %v", err)
	}
	if err := sbomtest.CycloneDX(got.CycloneDX); err != nil {
		t.Errorf("CycloneDX: %v", err)
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-200)
	return fmt.Sprintf("got  …%s…\nwant …%s…", a[from:min(len(a), i+200)], b[from:min(len(b), i+200)])
}

func generate(t *testing.T, ref name.Digest, cache *LayerCache) *Document {
	t.Helper()
	s, err := GenerateCached(context.Background(), ref, "linux/amd64", Identity{Version: "test"}, nil, cache)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLayeredSBOMEqualsFullScan: a rebuild on a cached base downloads only
// its new layer, and its SBOM equals a full scan's (packages, versions,
// PURLs, licenses, files with SHA-1 and SHA-256, relationships,
// verification codes) where the new layer rewrites dpkg's status, upgrading
// one package and removing another, and whites out files and a directory.
func TestLayeredSBOMEqualsFullScan(t *testing.T) {
	r := newBlobRegistry(t)
	base, upgrade := debianLayers(t)
	baseRef := r.pushLayers(t, "base", base)
	appRef := r.pushLayers(t, "app", base, upgrade)
	cache := &LayerCache{Dir: t.TempDir()}

	sameSBOM(t, generate(t, baseRef, cache), generate(t, baseRef, nil))
	before := r.readsOf(t, base)
	got := generate(t, appRef, cache)
	if n := r.readsOf(t, base) - before; n != 0 {
		t.Errorf("the cached base layer was read %d times", n)
	}
	if r.readsOf(t, upgrade) == 0 {
		t.Error("the new layer was never read")
	}
	want := generate(t, appRef, nil)
	sameSBOM(t, got, want)

	spdx := string(got.SPDX)
	for _, s := range []string{`"versionInfo":"2.10-4"`, `"fileName":"usr/share/hello/greeting"`,
		fmt.Sprintf(`"checksumValue":"%x"`, sha1.Sum([]byte("hi\n")))} { //nolint:gosec // SPDX's file checksum
		if !strings.Contains(spdx, s) {
			t.Errorf("the SBOM lacks %s", s)
		}
	}
	for _, s := range []string{"libfoo1", `"versionInfo":"2.10-3"`, "opt/data/old.txt"} {
		if strings.Contains(spdx, s) {
			t.Errorf("the SBOM still has %s", s)
		}
	}
}

// TestBadCacheEntriesFallBack: an entry that is corrupt, filed under
// another layer, or lacks bytes a cataloger reads is never trusted: the
// layer is read again from the registry (or the image fully scanned), the
// SBOM equals the full scan's, and the bad entry is gone.
func TestBadCacheEntriesFallBack(t *testing.T) {
	r := newBlobRegistry(t)
	base, upgrade := debianLayers(t)
	baseRef := r.pushLayers(t, "base", base)
	appRef := r.pushLayers(t, "app", base, upgrade)
	want := generate(t, appRef, nil)
	bd, _ := base.Digest()
	ud, _ := upgrade.Digest()

	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, c *LayerCache)
	}{
		{"a kept byte flipped", func(t *testing.T, c *LayerCache) {
			e := readEntry(t, c, bd.String())
			flip(t, c.path(bd.String(), ".tar"), e.Regions[len(e.Regions)/2].Off)
		}},
		{"the index flipped", func(t *testing.T, c *LayerCache) {
			fi, err := os.Stat(c.path(bd.String(), ".idx"))
			if err != nil {
				t.Fatal(err)
			}
			flip(t, c.path(bd.String(), ".idx"), fi.Size()-10)
		}},
		{"another layer's entry", func(t *testing.T, c *LayerCache) {
			generate(t, appRef, c)
			for _, ext := range []string{".idx", ".tar"} {
				b, err := os.ReadFile(c.path(ud.String(), ext))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.path(bd.String(), ext), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"the status file's bytes missing", func(t *testing.T, c *LayerCache) {
			e := readEntry(t, c, bd.String())
			status := e.Files["/var/lib/dpkg/status"]
			var kept []region
			for _, r := range e.Regions {
				if r.Off+r.Len <= status.Off || r.Off >= status.Off+status.Size {
					kept = append(kept, r)
				}
			}
			e.Regions = kept
			b, err := encodeEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(c.path(bd.String(), ".idx"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &LayerCache{Dir: t.TempDir()}
			generate(t, baseRef, cache)
			tc.spoil(t, cache)
			spoiled, _ := os.ReadFile(cache.path(bd.String(), ".idx"))
			before := r.readsOf(t, base)
			sameSBOM(t, generate(t, appRef, cache), want)
			if r.readsOf(t, base) == before {
				t.Error("the base layer was not read again")
			}
			if now, _ := os.ReadFile(cache.path(bd.String(), ".idx")); bytes.Equal(now, spoiled) {
				t.Error("the bad entry is still in the cache")
			}
		})
	}
}

func readEntry(t *testing.T, c *LayerCache, digest string) *layerEntry {
	t.Helper()
	b, err := os.ReadFile(c.path(digest, ".idx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func flip(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCacheTrimsToItsBound: past MaxBytes, the least recently used entries
// go first (here the base layer's, older than the upgrade layer's).
func TestCacheTrimsToItsBound(t *testing.T) {
	r := newBlobRegistry(t)
	base, upgrade := debianLayers(t)
	cache := &LayerCache{Dir: t.TempDir()}
	generate(t, r.pushLayers(t, "app", base, upgrade), cache)
	bd, _ := base.Digest()
	ud, _ := upgrade.Digest()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(cache.path(bd.String(), ".idx"), old, old); err != nil {
		t.Fatal(err)
	}
	var used int64
	for _, ext := range []string{".idx", ".tar"} {
		fi, err := os.Stat(cache.path(ud.String(), ext))
		if err != nil {
			t.Fatal(err)
		}
		used += diskUsage(fi)
	}
	cache.MaxBytes = used
	if err := cache.trim(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache.path(bd.String(), ".idx")); err == nil {
		t.Error("the least recently used entry was kept")
	}
	if _, err := os.Stat(cache.path(ud.String(), ".tar")); err != nil {
		t.Errorf("the recently used entry was removed: %v", err)
	}
}

// TestLayeredSBOMEqualsFullScanOnDebian does the same on real Debian data:
// the local registry's Debian 12 layer, and a layer that removes tzdata
// (status stanza, dpkg info files, zoneinfo) and upgrades hostname (version,
// binary, md5sums, list). It is skipped when that registry is not running.
func TestLayeredSBOMEqualsFullScanOnDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the 49 MB Debian layer")
	}
	img, err := crane.Pull("127.0.0.1:5000/base/debian:bookworm", crane.Insecure)
	if err != nil {
		t.Skipf("no local Debian base image: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Skipf("no local Debian base image: %v", err)
	}
	base := layers[0]
	files := readFiles(t, base, "var/lib/dpkg/status", "usr/bin/hostname", "var/lib/dpkg/info/hostname.md5sums", "var/lib/dpkg/info/hostname.list")
	var status []string
	for _, s := range strings.SplitAfter(files["var/lib/dpkg/status"], "\n\n") {
		switch {
		case strings.HasPrefix(s, "Package: tzdata\n"):
			continue
		case strings.HasPrefix(s, "Package: hostname\n"):
			s = regexp.MustCompile(`(?m)^Version: (.*)$`).ReplaceAllString(s, "Version: ${1}+bakery1")
		}
		status = append(status, s)
	}
	hostname := files["usr/bin/hostname"] + "upgraded"
	md5 := regexp.MustCompile(`(?m)^[0-9a-f]{32}  usr/bin/hostname$`).ReplaceAllString(files["var/lib/dpkg/info/hostname.md5sums"],
		fmt.Sprintf("%x  usr/bin/hostname", md5.Sum([]byte(hostname)))) //nolint:gosec // dpkg's md5sums
	upgrade := tarLayer(t,
		entry{name: "var/lib/dpkg/status", content: strings.Join(status, "")},
		entry{name: "var/lib/dpkg/info/.wh.tzdata.list"},
		entry{name: "var/lib/dpkg/info/.wh.tzdata.md5sums"},
		entry{name: "usr/share/.wh.zoneinfo"},
		entry{name: "usr/share/doc/.wh.tzdata"},
		entry{name: "usr/bin/hostname", content: hostname},
		entry{name: "var/lib/dpkg/info/hostname.md5sums", content: md5},
		entry{name: "var/lib/dpkg/info/hostname.list", content: files["var/lib/dpkg/info/hostname.list"] + "/usr/share/doc/hostname/NEWS\n"},
		entry{name: "usr/share/doc/hostname/NEWS", content: "upgraded\n"},
	)
	r := newBlobRegistry(t)
	cache := &LayerCache{Dir: t.TempDir()}
	generate(t, r.pushLayers(t, "base", base), cache)
	appRef := r.pushLayers(t, "app", base, upgrade)
	before := r.readsOf(t, base)
	got := generate(t, appRef, cache)
	if n := r.readsOf(t, base) - before; n != 0 {
		t.Errorf("the cached Debian layer was read %d times", n)
	}
	sameSBOM(t, got, generate(t, appRef, nil))
	if strings.Contains(string(got.SPDX), `"name":"tzdata"`) || !strings.Contains(string(got.SPDX), "+bakery1") {
		t.Error("tzdata is still listed, or hostname is not upgraded")
	}
}

// readFiles returns the named files of a layer.
func readFiles(t *testing.T, l v1.Layer, names ...string) map[string]string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.TrimPrefix(h.Name, "./"); want[n] {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = string(b)
		}
	}
	return out
}

// BenchmarkSBOMLayerCache makes the SBOM of the local registry's Debian 12
// layer plus a small layer: with a full scan, and through a warm layer
// cache. go test -run XXX -bench SBOMLayerCache -benchtime 3x ./attest
func BenchmarkSBOMLayerCache(b *testing.B) {
	img, err := crane.Pull("127.0.0.1:5000/base/debian:bookworm", crane.Insecure)
	if err != nil {
		b.Skipf("no local Debian base image: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		b.Skipf("no local Debian base image: %v", err)
	}
	r := newBlobRegistry(b)
	ref := r.pushLayers(b, "app", layers[0], tarLayer(b, entry{name: "usr/local/bin/app", content: "#!/bin/sh\necho app\n"}))
	cache := &LayerCache{Dir: b.TempDir()}
	ctx := context.Background()
	if _, err := GenerateCached(ctx, ref, "linux/amd64", Identity{}, nil, cache); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		cache *LayerCache
	}{{"full", nil}, {"cached", cache}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := GenerateCached(ctx, ref, "linux/amd64", Identity{}, nil, bc.cache); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
