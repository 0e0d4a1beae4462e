package registry

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

func newRegistry(t *testing.T) string {
	t.Helper()
	return bakerytest.NewRegistry(t).Host
}

func TestDescribeImageAndTag(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host+"/dev/web", name.Insecure)
	d, _ := img.Digest()
	ref := repo.Digest(d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	sum, err := describe(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	raw, _ := img.RawManifest()
	want := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		want += l.Size
	}
	if sum.Size != want {
		t.Errorf("size = %d, want %d", sum.Size, want)
	}
	if strings.Join(sum.Platforms, " ") != "linux/amd64" {
		t.Errorf("platforms = %v", sum.Platforms)
	}

	if err := Tag(ctx, ref, repo.Tag("dev")); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(repo.Tag("dev"))
	if err != nil || got.Digest != d {
		t.Fatalf("tag points at %v (%v), want %v", got, err, d)
	}
}

func TestDescribeIndexListsEveryPlatform(t *testing.T) {
	host := newRegistry(t)
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	ref, _ := name.NewDigest(host+"/dev/multi@"+d.String(), name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	sum, err := describe(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sum.Platforms, " ") != "linux/amd64 linux/arm64/v8" || !sum.MediaType.IsIndex() {
		t.Errorf("summary = %+v", sum)
	}
}

func TestPingAndUnavailable(t *testing.T) {
	ctx := context.Background()
	reg, _ := name.NewRegistry(newRegistry(t), name.Insecure)
	if err := Ping(ctx, reg); err != nil {
		t.Fatalf("Ping(up) = %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	reg, _ = name.NewRegistry(down, name.Insecure)
	err = Ping(ctx, reg)
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "registry "+down) {
		t.Fatalf("Ping(down) = %v", err)
	}
	ref, _ := name.NewDigest(down+"/x@sha256:"+strings.Repeat("a", 64), name.Insecure)
	if _, err := Resolve(ctx, ref); failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("Resolve(down) = %v", err)
	}
}

func describe(ctx context.Context, ref name.Digest) (Summary, error) {
	desc, err := remote.Get(ref, Options(ctx)...)
	if err != nil {
		return Summary{}, err
	}
	return Summarize(ref, desc)
}

func TestResolveTagOnceAndNotFound(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host+"/dev/app", name.Insecure)
	if err := remote.Write(repo.Tag("dev"), img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	got, err := Resolve(ctx, repo.Tag("dev"))
	if err != nil || got.DigestStr() != want.String() || got.Context().String() != repo.String() {
		t.Fatalf("Resolve(tag) = %v, %v; want %s@%s", got, err, repo, want)
	}
	byDigest, err := Resolve(ctx, got)
	if err != nil || byDigest != got {
		t.Fatalf("Resolve(digest) = %v, %v", byDigest, err)
	}
	_, err = Resolve(ctx, repo.Tag("prod"))
	if failure.ClassOf(err) != failure.Config || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve(missing tag) = %v, want a config error wrapping ErrNotFound", err)
	}
	missing := repo.Digest("sha256:" + strings.Repeat("b", 64))
	if _, err := Resolve(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve(missing digest) = %v", err)
	}
}
