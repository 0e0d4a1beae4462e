// Package bakerytest is the kit bakery's fast package tests share, after
// go-containerregistry's own tests: an in-process registry that logs
// nothing, random images of a given platform pushed by digest, and a
// two-platform index. Like net/http/httptest it is support for tests, never
// called by bakery itself.
//
// It depends on go-containerregistry only, so that the tests of every floor
// can use it, down to internal/registry. What needs attest (key pairs, an
// image published as a build publishes it) is in attest/attesttest.
package bakerytest

import (
	"crypto/md5" //nolint:gosec // dpkg's md5sums format
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Handler is go-containerregistry's in-process registry, silent: a test
// that counts, delays or breaks requests wraps it and runs it with Serve.
func Handler() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

// Registry is a running in-process registry, closed when its test ends.
type Registry struct {
	// URL is http://127.0.0.1:port; Host is 127.0.0.1:port, the registry
	// part of a reference (go-containerregistry speaks plain HTTP to it).
	URL, Host string
}

// NewRegistry starts a silent in-process registry.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	return Serve(t, Handler())
}

// Serve runs h, usually a handler that wraps Handler, as a registry.
func Serve(t testing.TB, h http.Handler) *Registry {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return &Registry{URL: s.URL, Host: strings.TrimPrefix(s.URL, "http://")}
}

// Image is a random image of the given platform (os/arch[/variant]) with
// layers layers of size bytes each.
func Image(t testing.TB, platform string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return WithPlatform(t, img, platform)
}

// Debian12 is a linux/amd64 image of Debian 12 files whose dpkg database
// lists pkgs (name: version), as syft catalogs a Debian image: enough for
// an SBOM, and a vulnerability scan, of known packages.
func Debian12(t testing.TB, pkgs map[string]string) v1.Image {
	t.Helper()
	return debian12(t, pkgs, false)
}

// Debian12Owning is Debian12, and each package owns files as dpkg records
// them (/var/lib/dpkg/info/NAME.list and .md5sums, and the files): an SBOM
// of it has files, and relationships from packages to files, as an SBOM
// of a real image does.
func Debian12Owning(t testing.TB, pkgs map[string]string) v1.Image {
	t.Helper()
	return debian12(t, pkgs, true)
}

func debian12(t testing.TB, pkgs map[string]string, owning bool) v1.Image {
	t.Helper()
	var status strings.Builder
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	slices.Sort(names)
	files := map[string][]byte{
		"etc/os-release": []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
	}
	for _, n := range names {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1\n"+
			"Maintainer: Example <%s@example.com>\nArchitecture: amd64\nVersion: %s\nDescription: %s\n\n", n, n, pkgs[n], n)
		if !owning {
			continue
		}
		var list, sums strings.Builder
		for _, f := range []string{"usr/share/doc/" + n + "/copyright", "usr/lib/" + n + "/" + n + ".so"} {
			body := []byte(n + " " + f + "\n")
			files[f] = body
			fmt.Fprintf(&list, "/%s\n", f)
			fmt.Fprintf(&sums, "%x  %s\n", md5.Sum(body), f) //nolint:gosec // dpkg's md5sums format
		}
		files["var/lib/dpkg/info/"+n+".list"] = []byte(list.String())
		files["var/lib/dpkg/info/"+n+".md5sums"] = []byte(sums.String())
	}
	files["var/lib/dpkg/status"] = []byte(status.String())
	img, err := crane.Image(files)
	if err != nil {
		t.Fatal(err)
	}
	return WithPlatform(t, img, "linux/amd64")
}

// WithPlatform is img with its config's os, architecture and variant set to
// platform's.
func WithPlatform(t testing.TB, img v1.Image, platform string) v1.Image {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// Index is an image index of one random image per platform (two by
// default: linux/amd64 and linux/arm64), each entry carrying its platform
// as BuildKit writes it.
func Index(t testing.TB, platforms ...string) v1.ImageIndex {
	t.Helper()
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64", "linux/arm64"}
	}
	var adds []mutate.IndexAddendum
	for _, platform := range platforms {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: Image(t, platform, 1024, 1), Descriptor: v1.Descriptor{Platform: p}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// Push writes img to repo (a path under the registry) by digest and
// returns its digest reference.
func (r *Registry) Push(t testing.TB, repo string, img v1.Image) name.Digest {
	t.Helper()
	ref := r.digestRef(t, repo, img)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushIndex writes idx and its images to repo by digest and returns the
// index's digest reference.
func (r *Registry) PushIndex(t testing.TB, repo string, idx v1.ImageIndex) name.Digest {
	t.Helper()
	ref := r.digestRef(t, repo, idx)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *Registry) digestRef(t testing.TB, repo string, a interface{ Digest() (v1.Hash, error) }) name.Digest {
	t.Helper()
	d, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(r.Host + "/" + repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
