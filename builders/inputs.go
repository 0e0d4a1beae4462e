package builders

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bakeryhq/bakery/machineimage"
)

// TreeDigest is the SHA-256 of a directory's content as a build sees it:
// every entry's slash path, type and permission bits, each regular file's
// SHA-256 and each symlink's target, in lexical order. Two trees with the
// same files get the same digest wherever they are checked out; any change
// to a file, its mode or the set of files changes it. Provenance records it
// as the build context's digest, and build --if-outdated compares it.
func TreeDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			fmt.Fprintf(h, "d %o %s\n", info.Mode().Perm(), rel)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s %s\n", rel, target)
		case d.Type().IsRegular():
			f, err := machineimage.FileOf(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %o %s %s\n", info.Mode().Perm(), rel, f.Digest)
		default:
			fmt.Fprintf(h, "o %s %s\n", d.Type(), rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
