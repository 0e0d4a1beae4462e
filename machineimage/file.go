package machineimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileOf describes the file at path by its sha256 digest and size.
func FileOf(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("artifact file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("artifact file %s: %w", path, err)
	}
	return File{Name: filepath.Base(path), Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}
