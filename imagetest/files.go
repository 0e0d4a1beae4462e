package imagetest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bakeryhq/bakery/internal/failure"
)

// maxLinkHops bounds symbolic link resolution, as Linux's ELOOP does.
const maxLinkHops = 40

// file is what a scan keeps of one path the suite asks about.
type file struct {
	hdr *tar.Header
	// content is the first maxOutput bytes, read only for content tests;
	// truncated says there was more.
	content   []byte
	truncated bool
}

// rootfs is the part of an image's flattened filesystem a suite needs:
// the paths it asks about and every link (name and target only), to
// resolve them as a container would.
type rootfs struct {
	files map[string]*file
	// links maps a symbolic or hard link to its target, absolute or
	// relative to the link's directory.
	links map[string]string
	// missing says why a path read from a FileReader is not there.
	missing map[string]string
}

// checkFiles runs the file existence and content tests. It reads the
// flattened filesystem (mutate.Extract: whiteouts and opaque directories
// honoured) once, keeping only the asked-about paths; a second read
// happens only when a path turns out to lie behind a link whose target the
// first could not know it needed (merged /usr, /etc/os-release).
func checkFiles(s *Suite, img v1.Image, env environ) ([]outcome, error) {
	if len(s.FileExistenceTests)+len(s.FileContentTests) == 0 {
		return nil, nil
	}
	want, content := map[string]bool{}, map[string]bool{}
	for _, t := range s.FileExistenceTests {
		want[clean(env.expand(t.Path))] = true
	}
	for _, t := range s.FileContentTests {
		want[clean(env.expand(t.Path))], content[clean(env.expand(t.Path))] = true, true
	}
	fsys := &rootfs{files: map[string]*file{}, links: map[string]string{}}
	if err := fsys.scan(img, want, content, s.MaxOutput); err != nil {
		return nil, err
	}
	again, againContent := map[string]bool{}, map[string]bool{}
	for p := range want {
		if r, ok := fsys.resolve(p); ok && r != p && fsys.files[r] == nil {
			again[r], againContent[r] = true, content[p]
		}
	}
	if len(again) > 0 {
		if err := fsys.scan(img, again, againContent, s.MaxOutput); err != nil {
			return nil, err
		}
	}
	return fsys.check(s, env), nil
}

// check runs s's file tests on what r holds.
func (r *rootfs) check(s *Suite, env environ) []outcome {
	var out []outcome
	for _, t := range s.FileExistenceTests {
		out = append(out, r.checkExistence(t, clean(env.expand(t.Path))))
	}
	for _, t := range s.FileContentTests {
		out = append(out, r.checkContent(t, clean(env.expand(t.Path))))
	}
	return out
}

// clean makes p absolute and clean: the form every path of a rootfs has.
func clean(p string) string {
	return path.Clean("/" + p)
}

// scan walks the flattened filesystem once, recording every link and the
// header (and, for content, up to most bytes) of each wanted path. A
// wanted directory without an entry of its own exists when something lies
// under it; it is recorded as root's 0755 directory, as runtimes create it.
func (r *rootfs) scan(img v1.Image, want, content map[string]bool, most int64) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure.New(failure.Unavailable, "image under test", fmt.Errorf("reading its layers: %w", err), "check the registry, then run the suite again")
		}
		name := clean(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			r.links[name] = hdr.Linkname
		case tar.TypeLink:
			r.links[name] = clean(hdr.Linkname)
		}
		for dir := path.Dir(name); dir != "/"; dir = path.Dir(dir) {
			if want[dir] && r.files[dir] == nil {
				r.files[dir] = &file{hdr: &tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}}
			}
		}
		if !want[name] {
			continue
		}
		f := &file{hdr: hdr}
		if content[name] && hdr.Typeflag == tar.TypeReg {
			if f.content, err = io.ReadAll(io.LimitReader(tr, most+1)); err != nil {
				return failure.New(failure.Unavailable, "image under test", fmt.Errorf("reading %s: %w", name, err), "check the registry, then run the suite again")
			}
			f.truncated = int64(len(f.content)) > most
			f.content = f.content[:min(int64(len(f.content)), most)]
		}
		r.files[name] = f
	}
}

// resolve follows the links in every component of p, as the kernel does
// inside the container's root; false means a loop (or too many hops).
func (r *rootfs) resolve(p string) (string, bool) {
	for hops := 0; hops <= maxLinkHops; hops++ {
		next, followed := r.follow(p)
		if !followed {
			return p, true
		}
		p = next
	}
	return p, false
}

// follow replaces the first component of p that is a link by its target.
func (r *rootfs) follow(p string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range parts {
		prefix := "/" + strings.Join(parts[:i+1], "/")
		target, ok := r.links[prefix]
		if !ok {
			continue
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(prefix), target)
		}
		return clean(path.Join(target, strings.Join(parts[i+1:], "/"))), true
	}
	return p, false
}

// stat returns the file at p, links followed, or why there is none.
func (r *rootfs) stat(p string) (*file, string) {
	if why, ok := r.missing[p]; ok {
		return nil, why
	}
	resolved, ok := r.resolve(p)
	if !ok {
		return nil, "too many levels of symbolic links"
	}
	f := r.files[resolved]
	if f == nil {
		return nil, "no such file or directory"
	}
	return f, ""
}

func (r *rootfs) checkExistence(t FileExistenceTest, p string) outcome {
	o := outcome{name: t.Name, verdict: Passed}
	f, missing := r.stat(p)
	if t.ShouldExist != nil && !*t.ShouldExist {
		if f != nil {
			o.fail("%s exists, expected it not to", p)
		}
		return o
	}
	if f == nil {
		o.fail("%s: %s", p, missing)
		return o
	}
	mode := f.hdr.FileInfo().Mode()
	if t.Permissions != "" && mode.String() != t.Permissions {
		o.fail("%s has permissions %s, expected %s", p, mode, t.Permissions)
	}
	if t.Uid != nil && f.hdr.Uid != *t.Uid {
		o.fail("%s is owned by uid %d, expected %d", p, f.hdr.Uid, *t.Uid)
	}
	if t.Gid != nil && f.hdr.Gid != *t.Gid {
		o.fail("%s is owned by gid %d, expected %d", p, f.hdr.Gid, *t.Gid)
	}
	if bits, ok := executableBits[t.IsExecutableBy]; ok && mode&bits == 0 {
		o.fail("%s (%s) is not executable by %s", p, mode, t.IsExecutableBy)
	}
	return o
}

// executableBits are the execute bits of each class isExecutableBy names.
var executableBits = map[string]fs.FileMode{"any": 0o111, "owner": 0o100, "group": 0o010, "other": 0o001}

func (r *rootfs) checkContent(t FileContentTest, p string) outcome {
	o := outcome{name: t.Name, verdict: Passed}
	f, missing := r.stat(p)
	switch {
	case f == nil:
		o.fail("%s: %s", p, missing)
	case f.hdr.Typeflag != tar.TypeReg:
		o.fail("%s is not a regular file", p)
	case f.truncated:
		o.fail("%s is larger than maxOutput (%d bytes) and cannot be checked whole; raise maxOutput", p, len(f.content))
	default:
		o.match(p, string(f.content), t.ExpectedContents, t.ExcludedContents)
	}
	return o
}

// FilePaths are the paths s's file tests ask about, as checked against an
// image whose config sets no environment (a machine image's filesystem):
// $VARs expanded from the suite's globalEnvVars, made absolute and clean.
// content says which of them a content test reads. A caller that collects a
// filesystem's files for Run needs these, and only these.
func FilePaths(s *Suite) (paths []string, content map[string]bool) {
	env := environ(nil).with(s.GlobalEnvVars)
	content = map[string]bool{}
	seen := map[string]bool{}
	add := func(p string) string {
		p = clean(env.expand(p))
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
		return p
	}
	for _, t := range s.FileExistenceTests {
		add(t.Path)
	}
	for _, t := range s.FileContentTests {
		content[add(t.Path)] = true
	}
	return paths, content
}
