package imagetest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/bakeryhq/bakery/internal/failure"
)

// FileReader is implemented by a Runner that can read the files of the
// image it runs where it runs them (BuildKit reads its own copy of the
// exact digest): Run then judges the file tests through it, path by path,
// instead of reading every layer of the image from the registry.
type FileReader interface {
	// ReadPath returns what is at p (absolute and clean) with every link
	// in it followed, as the kernel resolves it inside the container: its
	// mode, owner and size, and, when content is set and it is a regular
	// file, its first max+1 bytes. An *AbsentError says nothing is there
	// (or the links loop); any other error means the files could not be
	// read at all.
	ReadPath(ctx context.Context, p string, content bool, max int64) (PathInfo, []byte, error)
}

// PathInfo is what a FileReader says about a path.
type PathInfo struct {
	Mode     fs.FileMode
	UID, GID int
	Size     int64
}

// AbsentError is a FileReader's answer for a path that is not there.
type AbsentError struct {
	// Why is the reason, as a stat in the container would give it.
	Why string
}

func (e *AbsentError) Error() string { return e.Why }

// checkFilesOn runs s's file tests on the files reader reads.
func checkFilesOn(ctx context.Context, s *Suite, reader FileReader, env environ) ([]outcome, error) {
	if len(s.FileExistenceTests)+len(s.FileContentTests) == 0 {
		return nil, nil
	}
	content := map[string]bool{}
	var paths []string
	for _, t := range s.FileExistenceTests {
		paths = append(paths, clean(env.expand(t.Path)))
	}
	for _, t := range s.FileContentTests {
		p := clean(env.expand(t.Path))
		paths, content[p] = append(paths, p), true
	}
	fsys := &rootfs{files: map[string]*file{}, links: map[string]string{}, missing: map[string]string{}}
	for _, p := range paths {
		if fsys.files[p] != nil || fsys.missing[p] != "" {
			continue
		}
		info, data, err := reader.ReadPath(ctx, p, content[p], s.MaxOutput)
		var absent *AbsentError
		switch {
		case errors.As(err, &absent):
			fsys.missing[p] = absent.Why
			continue
		case err != nil:
			return nil, failure.New(failure.Unavailable, "file tests", fmt.Errorf("reading %s: %w", p, err), "check the build node, then run the suite again")
		}
		f := &file{hdr: headerOf(p, info)}
		if content[p] && f.hdr.Typeflag == tar.TypeReg {
			f.truncated = int64(len(data)) > s.MaxOutput
			f.content = data[:min(int64(len(data)), s.MaxOutput)]
		}
		fsys.files[p] = f
	}
	return fsys.check(s, env), nil
}

// headerOf is info as the tar header of p a layer would carry.
func headerOf(p string, info PathInfo) *tar.Header {
	h := &tar.Header{Name: p, Mode: int64(info.Mode.Perm()), Uid: info.UID, Gid: info.GID, Size: info.Size}
	for bit, c := range map[fs.FileMode]int64{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if info.Mode&bit != 0 {
			h.Mode |= c
		}
	}
	switch {
	case info.Mode.IsDir():
		h.Typeflag = tar.TypeDir
	case info.Mode.IsRegular():
		h.Typeflag = tar.TypeReg
	case info.Mode&fs.ModeSymlink != 0:
		h.Typeflag = tar.TypeSymlink
	case info.Mode&fs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
	case info.Mode&fs.ModeCharDevice != 0:
		h.Typeflag = tar.TypeChar
	case info.Mode&fs.ModeDevice != 0:
		h.Typeflag = tar.TypeBlock
	}
	return h
}
