// Command benchgen writes a deterministic tree of incompressible files for
// hack/bench-large.sh: it runs in a Dockerfile RUN step (bind-mounted from the
// build context) and fills a layer of a given size with many files, so that
// build, SBOM and promotion can be measured against image size.
//
//	benchgen -dir /data -size-mib 1024 -seed STAMP
//	benchgen -n -size-mib 1024    # how many files, without writing them
//
// File sizes are log-uniform between 512 B and 128 KiB (about 24 KiB on
// average, so about 44,000 files per GiB), 500 files to a directory; the
// contents are ChaCha8 output keyed by the seed, so the same seed gives the
// same bytes and gzip cannot shrink them.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "/data", "where to write the files")
	sizeMiB := flag.Int64("size-mib", 128, "total size of the files, MiB")
	seed := flag.String("seed", "bakery", "seed: the same seed writes the same bytes")
	dryRun := flag.Bool("n", false, "count the files and bytes without writing them")
	flag.Parse()
	n, total, err := generate(*dir, *sizeMiB<<20, *seed, *dryRun)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files, %d bytes in %s\n", n, total, *dir)
}

func generate(dir string, size int64, seed string, dryRun bool) (files int, total int64, err error) {
	key := sha256.Sum256([]byte(seed))
	data := rand.NewChaCha8(key)         // file contents
	sizes := rand.New(rand.NewPCG(1, 2)) // file sizes, the same for every seed
	const minSize, maxSize, perDir = 512, 128 << 10, 500
	buf := make([]byte, maxSize)
	for total < size {
		n := int64(math.Exp(math.Log(minSize) + sizes.Float64()*(math.Log(maxSize)-math.Log(minSize))))
		n = min(n, size-total)
		if dryRun {
			files++
			total += n
			continue
		}
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", files/perDir))
		if files%perDir == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return files, total, err
			}
		}
		_, _ = data.Read(buf[:n])
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%06d.bin", files)), buf[:n], 0o644); err != nil {
			return files, total, err
		}
		files++
		total += n
	}
	return files, total, nil
}
