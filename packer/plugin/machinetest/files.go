package machinetest

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bakeryhq/bakery/imagetest"
)

// maxListing caps what the path resolution prints: two paths per file test.
const maxListing = 1 << 20

// Filesystem is the part of the machine's filesystem suite s's file tests
// ask about, collected through comm, as a one-layer image of the platform
// (os/arch) for imagetest.Run, which checks it as it checks a container
// image's. Each asked-about path is resolved on the machine (links
// followed, as stat follows them) and stored under its own name with the
// resolved file's type, mode and owner, so no link needs resolving again;
// a content test's file keeps at most the suite's maxOutput bytes and one
// more, which imagetest reports as too large. A path that does not resolve
// to an existing file is not in the layer.
func Filesystem(ctx context.Context, comm packersdk.Communicator, s *imagetest.Suite, platform string) (v1.Image, error) {
	paths, content := imagetest.FilePaths(s)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if len(paths) > 0 {
		resolved, err := resolve(ctx, comm, paths)
		if err != nil {
			return nil, err
		}
		files, err := collect(ctx, comm, resolved, content, s.MaxOutput)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			f, ok := files[resolved[p]]
			if !ok {
				continue
			}
			hdr := *f.hdr
			hdr.Name, hdr.Linkname, hdr.Size = cmp.Or(strings.TrimPrefix(p, "/"), "."), "", 0
			body := []byte(nil)
			if content[p] && hdr.Typeflag == tar.TypeReg {
				body = f.content
				hdr.Size = int64(len(body))
			}
			if err := tw.WriteHeader(&hdr); err != nil {
				return nil, err
			}
			if _, err := tw.Write(body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(layer.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, _ = strings.Cut(platform, "/")
	return mutate.ConfigFile(img, cf)
}

// resolve maps each path to the file it names on the machine, links
// followed ("" when there is none).
func resolve(ctx context.Context, comm packersdk.Communicator, paths []string) (map[string]string, error) {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = Quote(p)
	}
	script := "cd / || exit 1\nfor p in " + strings.Join(quoted, " ") + `; do
  if r=$(readlink -f -- "$p") && [ -e "$r" ]; then printf '%s\0%s\0' "$p" "$r"; else printf '%s\0\0' "$p"; fi
done
`
	out, err := runScript(ctx, comm, script, maxListing)
	if err != nil {
		return nil, fmt.Errorf("resolving the file tests' paths on the machine: %w", err)
	}
	fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(fields)%2 != 0 {
		return nil, fmt.Errorf("resolving the file tests' paths on the machine: unexpected output %q", out)
	}
	resolved := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		resolved[fields[i]] = fields[i+1]
	}
	return resolved, nil
}

// file is one collected file: its header, and for a content test up to
// most+1 bytes of it.
type file struct {
	hdr     *tar.Header
	content []byte
}

// collect streams a tar of the resolved files that exist (GNU tar: no
// recursion into directories, hard links stored as files) and keeps their
// headers, and the first most+1 bytes of those a content test reads.
func collect(ctx context.Context, comm packersdk.Communicator, resolved map[string]string, content map[string]bool, most int64) (map[string]*file, error) {
	wantContent := map[string]bool{}
	var quoted []string
	for p, r := range resolved {
		if r == "" {
			continue
		}
		if _, listed := wantContent[r]; !listed {
			quoted = append(quoted, Quote(cmp.Or(strings.TrimPrefix(r, "/"), ".")))
		}
		wantContent[r] = wantContent[r] || content[p]
	}
	files := map[string]*file{}
	if len(quoted) == 0 {
		return files, nil
	}
	script := "cd / || exit 1\nprintf '%s\\0' " + strings.Join(quoted, " ") + " | tar --null --no-recursion --hard-dereference -cf - -T -\n"
	pr, pw := io.Pipe()
	errb := newCapped(maxListing)
	cmd := &packersdk.RemoteCmd{Command: "/bin/sh", Stdin: strings.NewReader(script), Stdout: pw, Stderr: errb}
	if err := comm.Start(ctx, cmd); err != nil {
		return nil, err
	}
	go func() {
		if st := cmd.Wait(); st != 0 {
			msg, _ := errb.bytes()
			pw.CloseWithError(fmt.Errorf("tar exited %d on the machine: %s", st, strings.TrimSpace(string(msg))))
			return
		}
		pw.Close()
	}()
	err := readFiles(pr, files, wantContent, most)
	_, _ = io.Copy(io.Discard, pr)
	if err != nil {
		return nil, fmt.Errorf("collecting the file tests' files from the machine: %w", err)
	}
	return files, nil
}

// readFiles reads a tar into files, keyed by absolute path.
func readFiles(r io.Reader, files map[string]*file, content map[string]bool, most int64) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if hdr.Name == "./" || hdr.Name == "." {
			name = "/"
		}
		f := &file{hdr: hdr}
		if content[name] && hdr.Typeflag == tar.TypeReg {
			if f.content, err = io.ReadAll(io.LimitReader(tr, most+1)); err != nil {
				return err
			}
		}
		files[name] = f
	}
}

// runScript runs a shell script on the machine and returns its standard
// output, at most most bytes of it.
func runScript(ctx context.Context, comm packersdk.Communicator, script string, most int64) ([]byte, error) {
	stdout, stderr := newCapped(most), newCapped(maxListing)
	cmd := &packersdk.RemoteCmd{Command: "/bin/sh", Stdin: strings.NewReader(script), Stdout: stdout, Stderr: stderr}
	if err := comm.Start(ctx, cmd); err != nil {
		return nil, err
	}
	if st := cmd.Wait(); st != 0 {
		msg, _ := stderr.bytes()
		return nil, fmt.Errorf("exited %d: %s", st, strings.TrimSpace(string(msg)))
	}
	out, cut := stdout.bytes()
	if cut {
		return nil, fmt.Errorf("more than %d bytes of output", most)
	}
	return out, nil
}
