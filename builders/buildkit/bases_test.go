package buildkit

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/bakerytest"
)

func TestPulledImages(t *testing.T) {
	df := `ARG BASE=debian:bookworm
ARG TOOLS
FROM ${TOOLS} AS tools
FROM golang:1.26 AS unused
FROM ${BASE} AS build
COPY --from=tools /bin/x /x
COPY --from=registry.example/helper:1 /y /y
FROM scratch
COPY --from=build /x /x
COPY --from=0 /bin/z /z
`
	got, err := pulledImages([]byte(df), "", map[string]string{"TOOLS": "registry.example/tools:2"})
	if err != nil {
		t.Fatal(err)
	}
	want := "debian:bookworm registry.example/helper:1 registry.example/tools:2"
	if strings.Join(got, " ") != want {
		t.Errorf("images = %v, want %s (the unused stage and scratch pull nothing)", got, want)
	}
	got, err = pulledImages([]byte(df), "unused", map[string]string{"BASE": "other:1"})
	if err != nil || strings.Join(got, " ") != "golang:1.26" {
		t.Errorf("stage unused: images = %v, %v", got, err)
	}
	if _, err := pulledImages([]byte(df), "nope", nil); err == nil || !strings.Contains(err.Error(), `no stage named "nope"`) {
		t.Errorf("unknown stage: %v", err)
	}
}

func TestResolveBasesPinsOnce(t *testing.T) {
	host := bakerytest.NewRegistry(t).Host
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/base/debian:bookworm", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	df := []byte("ARG BASE\nFROM ${BASE}\nFROM " + host + "/base/debian:bookworm\n")
	pin := "sha256:" + strings.Repeat("cd", 32)
	bases, err := resolveBases(context.Background(), df, "", map[string]string{"BASE": host + "/dev/golden-base:dev"},
		map[string]string{host + "/dev/golden-base:dev": pin})
	if err != nil {
		t.Fatal(err)
	}
	// Only the last stage is built: the pinned arg's stage is not pulled.
	if len(bases) != 1 || bases[0].Digest != want.String() {
		t.Fatalf("bases = %+v, want the tag's digest %s", bases, want)
	}
	df = []byte("ARG BASE\nFROM ${BASE}\n")
	bases, err = resolveBases(context.Background(), df, "", map[string]string{"BASE": host + "/dev/golden-base:dev"},
		map[string]string{host + "/dev/golden-base:dev": pin})
	if err != nil || len(bases) != 1 || bases[0].Digest != pin {
		t.Fatalf("pinned: bases = %+v, %v; want the pin, not a lookup (nothing is at that tag)", bases, err)
	}
	deps, err := dependencies(bases, []string{"linux/amd64", "linux/arm64"})
	if err != nil || len(deps) != 2 {
		t.Fatal(deps, err)
	}
	// packageurl-go v0.1.7 (which grype requires) leaves the port's colon
	// unescaped, as the purl spec allows; v0.1.1 wrote %3A. Readers of the
	// provenance (revoke's lineage, outdated) unescape, so both name REPO.
	if deps[0].URI != "pkg:docker/"+host+"/dev/golden-base@dev?platform=linux%2Famd64" || deps[0].Digest["sha256"] != strings.Repeat("cd", 32) {
		t.Errorf("dependency = %+v", deps[0])
	}
	if _, err := resolveBases(context.Background(), []byte("FROM "+host+"/base/missing:1\n"), "", nil, nil); err == nil {
		t.Error("a base that is not there resolved")
	}
}

// TestBaseNamedContexts: the named context is keyed as the Dockerfile
// frontend looks it up (the familiar name, without :latest) and pins the
// full name by digest, for Docker Hub names and registry hosts alike; a
// pin matches however the Dockerfile spells the image.
func TestBaseNamedContexts(t *testing.T) {
	d := "sha256:" + strings.Repeat("ef", 32)
	for _, tc := range []struct{ ref, key, pinned string }{
		{"debian:bookworm", "context:debian:bookworm", "docker-image://docker.io/library/debian@" + d},
		{"debian", "context:debian", "docker-image://docker.io/library/debian@" + d},
		{"127.0.0.1:5000/base/debian:bookworm", "context:127.0.0.1:5000/base/debian:bookworm", "docker-image://127.0.0.1:5000/base/debian@" + d},
	} {
		b := base{Ref: tc.ref, Digest: d}
		key, err := b.contextKey()
		pinned, perr := b.pinned()
		if err != nil || perr != nil || key != tc.key || pinned != tc.pinned {
			t.Errorf("%s: key %q pinned %q (%v %v), want %q %q", tc.ref, key, pinned, err, perr, tc.key, tc.pinned)
		}
	}
	if normalized("debian") != normalized("docker.io/library/debian:latest") {
		t.Error("a pin of docker.io/library/debian:latest does not match FROM debian")
	}
	if _, err := (base{Ref: "Not A Ref"}).contextKey(); err == nil {
		t.Error("a malformed reference made a context key")
	}
}
