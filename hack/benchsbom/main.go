// Command benchsbom makes an SBOM exactly as bakery does, so that its wall
// time and peak memory can be measured next to the syft CLI's:
//
//	benchsbom REPO@DIGEST   a container image's platform manifest, as `bakery build`
//	                        does (sbom.Generate: syft as a library); with
//	                        -cache DIR, through the SBOM layer cache in DIR
//	benchsbom -rootfs DIR   a machine's root filesystem, as the bakery-sbom
//	                        provisioner and the bakery post-processor do: collect
//	                        the package databases through Packer's chroot
//	                        communicator, catalog them, encode SPDX and CycloneDX
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/google/go-containerregistry/pkg/name"
	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"

	"github.com/bakeryhq/bakery/attest/sbom"
	plugsbom "github.com/bakeryhq/bakery/packer/plugin/sbom"
)

func main() {
	rootfs := flag.String("rootfs", "", "an unpacked machine root filesystem")
	cacheDir := flag.String("cache", "", "an SBOM layer cache directory, as bakery build's sbom.cache_dir")
	flag.Parse()
	ctx := context.Background()
	if *rootfs != "" {
		if err := machine(ctx, *rootfs); err != nil {
			log.Fatal(err)
		}
		return
	}
	if flag.NArg() != 1 {
		log.Fatal("usage: benchsbom REPO@DIGEST (a platform manifest) | benchsbom -rootfs DIR")
	}
	ref, err := name.NewDigest(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	var cache *sbom.LayerCache
	if *cacheDir != "" {
		cache = &sbom.LayerCache{Dir: *cacheDir}
	}
	s, err := sbom.GenerateCached(ctx, ref, "", sbom.Identity{Version: "bench"}, nil, cache)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d packages, SPDX %d bytes, CycloneDX %d bytes\n", s.Packages, len(s.SPDX), len(s.CycloneDX))
}

func machine(ctx context.Context, rootfs string) error {
	// The SDK's chroot communicator logs every command with the log package.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	dir, err := os.MkdirTemp("", "benchsbom-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	comm := &sdkchroot.Communicator{Chroot: rootfs, CmdWrapper: func(s string) (string, error) { return s, nil }}
	if _, err := plugsbom.Collect(ctx, comm, dir); err != nil {
		return err
	}
	s, err := plugsbom.Catalog(ctx, dir, plugsbom.Descriptor{Platform: "linux/amd64"}, "bench")
	if err != nil {
		return err
	}
	enc, err := syftjson.NewFormatEncoderWithConfig(syftjson.DefaultEncoderConfig())
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	if err := enc.Encode(&doc, *s); err != nil {
		return err
	}
	ref, _ := name.NewDigest("bench.local/machine@sha256:" + fmt.Sprintf("%064d", 0))
	out, err := sbom.Encode(doc.Bytes(), ref, "linux/amd64", sbom.Identity{Version: "bench"})
	if err != nil {
		return err
	}
	fmt.Printf("%d packages, SPDX %d bytes, CycloneDX %d bytes\n", out.Packages, len(out.SPDX), len(out.CycloneDX))
	return nil
}
