// Command benchsbom makes one image's SBOM exactly as `bakery build` does
// (attest.GenerateSBOM: syft as a library, SPDX and CycloneDX), so that its
// wall time and peak memory can be measured next to the syft CLI's.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: benchsbom REPO@DIGEST (a platform manifest)")
	}
	ref, err := name.NewDigest(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	s, err := attest.GenerateSBOM(context.Background(), ref, "", "bench", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d packages, SPDX %d bytes, CycloneDX %d bytes\n", s.Packages, len(s.SPDX), len(s.CycloneDX))
}
