// Package gitops is bakery's GitOps write-back: after a promotion's receipt
// is signed and the environment's tag settled, it pins the promoted
// repository@digest in the deployment files bakery.yaml declares for the
// environment (environments[].deploy.files), and never before. Which image in
// which file belongs to which target is declared, never guessed.
//
// A write-back runs in two steps. Prepare, before the promotion copies
// anything, reads every file and finds its image, so that a file that does
// not parse, or lacks its image, stops the promotion (a config error, exit 2)
// with nothing promoted and nothing written. Apply, after the tag settled,
// reads each file again (another target promoted concurrently may have
// edited it meanwhile: one path is edited by one step at a time), edits it in
// place keeping comments and formatting, and replaces it atomically (a
// temporary file in the same directory, fsync, rename, the file's mode kept);
// a file whose content would not change is not written at all.
package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Pin is what a deployment file is set to run: a repository and a digest
// (sha256:…).
type Pin struct {
	Repository string
	Digest     string
}

// Ref is the pin as one reference, repository@digest.
func (p Pin) Ref() string { return p.Repository + "@" + p.Digest }

// Editor sets one declared image of a deployment file format to a pin. Edit
// returns content unchanged (the same bytes) when the image already runs the
// pin; ErrImageNotFound when content has no such image; any other error is a
// parse error of content.
type Editor interface {
	Edit(content []byte, image string, pin Pin) ([]byte, error)
}

// ErrImageNotFound says a file lacks its declared image.
var ErrImageNotFound = errors.New("image not found")

// ParseError is a file that does not parse, at Line when known (> 0).
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: does not parse: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("does not parse: %v", e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// editors are the Editor of each config.DeployFormats.
var editors = map[string]Editor{
	config.FormatKustomize: kustomizeEditor{},
	config.FormatHelm:      helmEditor{},
	config.FormatManifest:  manifestEditor{},
	config.FormatECS:       ecsEditor{},
	config.FormatTerraform: terraformEditor{},
}

// EditorFor returns the Editor of a format.
func EditorFor(format string) (Editor, bool) {
	e, ok := editors[format]
	return e, ok
}

// File is one declared image of one deployment file.
type File struct {
	config.DeployFile
	// Abs is the file's absolute path.
	Abs string
	// Key is where it is declared: bakery.yaml environments[ENV].deploy.files[I].
	Key string
	// configName is the config file's name.
	configName string
}

// Written is what a write-back did, or would do, to one file.
type Written struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Image  string `json:"image"`
	// Ref is what the file's image is set to, repository@digest.
	Ref string `json:"ref"`
	// Changed says the file's content changed (was rewritten, or would be
	// on a dry run); an unchanged file is not touched.
	Changed bool `json:"changed"`
	// Diff is the unified diff of the change, on a dry run.
	Diff string `json:"diff,omitempty"`
}

// Select returns, of the paths given with --write, those declared in env
// for target, in the order given. Paths are compared as absolute, cleaned
// paths (relative --write paths are relative to the working directory,
// declared ones to the config file's directory).
func Select(cfg *config.Config, env *config.Environment, target string, paths []string) []File {
	files, idx := env.DeployFiles(target)
	var out []File
	for _, p := range paths {
		abs := absolute(p)
		for i, f := range files {
			if absolute(cfg.DeployPath(f)) == abs {
				out = append(out, File{DeployFile: f, Abs: abs, Key: key(cfg, env, idx[i]), configName: configName(cfg)})
			}
		}
	}
	return out
}

// Move is a target moved into an environment.
type Move struct{ Target, Env string }

// Check says whether every path given with --write is a deploy file
// declared for one of moves; if not, a config error naming the path and
// listing the declared ones. It runs before anything is promoted.
func Check(cfg *config.Config, moves []Move, paths []string) error {
	var declared []string
	for _, p := range paths {
		found := false
		declared = declared[:0]
		for _, m := range moves {
			env, _, err := cfg.LookupEnvironment(m.Env)
			if err != nil {
				return err
			}
			files, _ := env.DeployFiles(m.Target)
			for _, f := range files {
				declared = append(declared, f.Path)
				found = found || absolute(cfg.DeployPath(f)) == absolute(p)
			}
		}
		if !found {
			slices.Sort(declared)
			declared = slices.Compact(declared)
			list := "none is declared"
			if len(declared) > 0 {
				list = "declared: " + strings.Join(declared, ", ")
			}
			envs := []string{}
			for _, m := range moves {
				envs = append(envs, fmt.Sprintf("%s in %s", m.Target, m.Env))
			}
			of := strings.Join(slices.Compact(envs), ", ")
			if of == "" {
				of = "any target being moved"
			}
			return failure.New(failure.Config, "--write "+p,
				fmt.Errorf("is not a deploy file of %s (%s)", of, list),
				"declare it under environments[].deploy.files in "+configName(cfg)+", or drop it")
		}
	}
	return nil
}

// Prepare reads each file and finds its image, changing nothing: a file
// that cannot be read, does not parse or lacks its image is a config error
// naming the file and where it is declared.
func Prepare(files []File) error {
	probe := Pin{Repository: "bakery.invalid/probe", Digest: "sha256:" + strings.Repeat("0", 64)}
	for _, f := range files {
		if _, _, err := f.edit(probe); err != nil {
			return err
		}
	}
	return nil
}

// Apply pins each file's image to pin, rewriting only files whose content
// changes. With dryRun it writes nothing and returns each change's diff.
// It stops at the first failure, returning what was written before it.
func Apply(files []File, pin Pin, dryRun bool) ([]Written, error) {
	var out []Written
	for _, f := range files {
		w, err := f.apply(pin, dryRun)
		if err != nil {
			return out, err
		}
		out = append(out, w)
	}
	return out, nil
}

// apply is Apply for one file, holding the file's lock from read to rename.
func (f File) apply(pin Pin, dryRun bool) (Written, error) {
	mu := lockOf(f.Abs)
	mu.Lock()
	defer mu.Unlock()
	w := Written{File: f.Path, Format: f.Format, Image: f.Image, Ref: pin.Ref()}
	old, edited, err := f.edit(pin)
	if err != nil {
		return w, err
	}
	if w.Changed = !bytes.Equal(old, edited); !w.Changed {
		return w, nil
	}
	if dryRun {
		w.Diff = Diff(f.Path, old, edited)
		return w, nil
	}
	if err := WriteAtomic(f.Abs, edited); err != nil {
		return w, failure.New(failure.Internal, f.Path, err, "the file was left as it was; fix the cause and re-run the same command")
	}
	return w, nil
}

// edit reads the file and returns its content and what it becomes.
func (f File) edit(pin Pin) (old, edited []byte, err error) {
	ed, ok := EditorFor(f.Format)
	if !ok {
		return nil, nil, failure.New(failure.Config, f.Path, fmt.Errorf("unknown format %q (%s)", f.Format, f.Key), "use one of "+strings.Join(config.DeployFormats, ", "))
	}
	old, err = os.ReadFile(f.Abs)
	if err != nil {
		return nil, nil, failure.New(failure.Config, f.Path, fmt.Errorf("%w (%s)", err, f.Key), "create it, or fix path: in "+f.config())
	}
	edited, err = ed.Edit(old, f.Image, pin)
	var pe *ParseError
	switch {
	case errors.Is(err, ErrImageNotFound):
		return nil, nil, failure.New(failure.Config, f.Path, fmt.Errorf("%s image %q not found (%s)", f.Format, f.Image, f.Key), "add it to the file, or fix image: in "+f.config())
	case errors.As(err, &pe) && pe.Line > 0:
		return nil, nil, failure.New(failure.Config, fmt.Sprintf("%s:%d", f.Path, pe.Line), fmt.Errorf("not a %s file: %w (%s)", f.Format, pe.Err, f.Key), "fix the file")
	case err != nil:
		return nil, nil, failure.New(failure.Config, f.Path, fmt.Errorf("not a %s file: %w (%s)", f.Format, err, f.Key), "fix the file, or format: in "+f.config())
	}
	return old, edited, nil
}

func (f File) config() string {
	if f.configName == "" {
		return "bakery.yaml"
	}
	return f.configName
}

// Diff is the unified diff of a file's change from old to edited.
func Diff(path string, old, edited []byte) string {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(old)), B: difflib.SplitLines(string(edited)),
		FromFile: "a/" + filepath.ToSlash(path), ToFile: "b/" + filepath.ToSlash(path), Context: 3,
	})
	if err != nil {
		return fmt.Sprintf("diff of %s: %v\n", path, err)
	}
	return d
}

// WriteAtomic replaces path with content: written to a temporary file in
// the same directory, synced, given path's mode and renamed over it, so
// that a reader sees the old file or the new one, never half of it, and a
// failure leaves no temporary file behind.
func WriteAtomic(path string, content []byte) (err error) {
	// a deploy file that is a symbolic link stays one: its target is
	// replaced, not the link
	if real, lerr := filepath.EvalSymlinks(path); lerr == nil {
		path = real
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".bakery-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(content); err != nil {
		return err
	}
	if err = tmp.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync() // the rename itself, durably; best effort
		_ = d.Close()
	}
	return nil
}

// locks serialize the edits of one path within the process: two targets
// promoted at once may pin images in the same file.
var locks sync.Map // absolute path -> *sync.Mutex

func lockOf(path string) *sync.Mutex {
	mu, _ := locks.LoadOrStore(path, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

func absolute(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func key(cfg *config.Config, env *config.Environment, i int) string {
	return fmt.Sprintf("%s environments[%s].deploy.files[%d]", configName(cfg), env.Name, i)
}

func configName(cfg *config.Config) string {
	if cfg.File != "" {
		return filepath.Base(cfg.File)
	}
	return "bakery.yaml"
}
