// Command pushbase pushes a root filesystem tarball as a single-layer OCI image
// with its platform set, so BuildKit can use it as a FROM base without Docker Hub.
// It is a development helper for hack/setup.sh, not part of bakery.
package main

import (
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	layerPath := flag.String("layer", "", "gzipped rootfs tarball")
	ref := flag.String("ref", "", "image reference to push (plain HTTP registry)")
	platform := flag.String("platform", "linux/amd64", "os/arch of the rootfs")
	flag.Parse()
	if *layerPath == "" || *ref == "" {
		log.Fatal("pushbase: --layer and --ref are required")
	}
	if err := run(*layerPath, *ref, *platform); err != nil {
		log.Fatalf("pushbase: %v", err)
	}
}

func run(layerPath, ref, platform string) error {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return err
	}
	os, arch, ok := strings.Cut(platform, "/")
	if !ok {
		return fmt.Errorf("platform %q: want os/arch", platform)
	}
	layer, err := tarball.LayerFromFile(layerPath, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = os, arch
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"bash"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", tag.Context(), d)
	return nil
}
