package gitops

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var pin = Pin{Repository: "127.0.0.1:5000/prod/app", Digest: "sha256:" + strings.Repeat("ab", 32)}

// cases are the testdata inputs, each with its format and image; the
// golden output of each is testdata/NAME.golden.
var cases = []struct {
	name, format, image string
	comments            []string
}{
	{"kustomization.yaml", config.FormatKustomize, "app", []string{"# prod overlay", "# the app's image, pinned on promote", "# replaced on promote", "# not bakery's"}},
	{"values.yaml", config.FormatHelm, "app.image", []string{"# Helm values for prod", "# the image block bakery pins", "# replaced on promote"}},
	{"manifest.yaml", config.FormatManifest, "app", []string{"# the app and its migration job", "# same image, runs migrations", "# pinned by bakery", "# nightly"}},
	{"taskdef.json", config.FormatECS, "app", nil},
	{"prod.tfvars", config.FormatTerraform, "app_image", []string{"# prod variables", "# where it runs", "/* the image, pinned by bakery */", "# replaced on promote"}},
	{"variables.tf", config.FormatTerraform, "app_image", []string{"# inputs of the prod stack", "# keep"}},
}

func TestEditGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			ed, _ := EditorFor(tc.format)
			out, err := ed.Edit(in, tc.image, pin)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(want) {
				t.Errorf("edited %s differs from %s:\n%s", tc.name, golden, Diff(tc.name, want, out))
			}
			if !strings.Contains(string(out), pin.Digest) {
				t.Errorf("edited %s does not pin %s", tc.name, pin.Digest)
			}
			for _, c := range tc.comments {
				if !strings.Contains(string(out), c) {
					t.Errorf("edited %s lost the comment %q", tc.name, c)
				}
			}
			// editing the edited content again changes nothing, byte for byte
			again, err := ed.Edit(out, tc.image, pin)
			if err != nil || string(again) != string(out) {
				t.Errorf("second edit of %s: err %v, changed:\n%s", tc.name, err, Diff(tc.name, out, again))
			}
		})
	}
}

func TestEditKeepsOtherImages(t *testing.T) {
	out := edit(t, "manifest.yaml", config.FormatManifest, "app")
	if !strings.Contains(out, "image: envoy:v1") || strings.Count(out, pin.Ref()) != 3 {
		t.Errorf("want the three app containers pinned and envoy kept:\n%s", out)
	}
	out = edit(t, "kustomization.yaml", config.FormatKustomize, "app")
	if strings.Contains(out, `newTag: "1.2"`) || !strings.Contains(out, "newTag: v3") {
		t.Errorf("want app's newTag dropped and sidecar's kept:\n%s", out)
	}
	out = edit(t, "taskdef.json", config.FormatECS, "app")
	if !strings.Contains(out, `"image": "envoy:v1"`) || !strings.Contains(out, `"image": "`+pin.Ref()+`"`) {
		t.Errorf("want app pinned and proxy kept:\n%s", out)
	}
}

func edit(t *testing.T, name, format, image string) string {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := EditorFor(format)
	out, err := ed.Edit(in, image, pin)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestEditImageNotFound(t *testing.T) {
	for _, tc := range cases {
		in, err := os.ReadFile(filepath.Join("testdata", tc.name))
		if err != nil {
			t.Fatal(err)
		}
		ed, _ := EditorFor(tc.format)
		if _, err := ed.Edit(in, "nope", pin); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("%s: image nope: err = %v, want ErrImageNotFound", tc.name, err)
		}
	}
}

func TestEditParseError(t *testing.T) {
	for _, tc := range []struct{ format, content, want string }{
		{config.FormatKustomize, "kind: Kustomization\nimages:\n  - name: app: x\n", "line 3"},
		{config.FormatHelm, "image: [\n", "does not parse"},
		{config.FormatManifest, "kind: Pod\nspec: {\n", "does not parse"},
		{config.FormatECS, "{\n  \"containerDefinitions\": [\n    {\"name\": \"app\",}\n  ]\n}\n", "line 3"},
		{config.FormatTerraform, "app_image = \"x\"\nregion = \n", "line 2"},
	} {
		ed, _ := EditorFor(tc.format)
		_, err := ed.Edit([]byte(tc.content), "app", pin)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a ParseError with %q", tc.format, err, tc.want)
		}
	}
}

// declare copies the testdata inputs into a temporary directory with a
// config that declares each.
func declare(t *testing.T) (*config.Config, *config.Environment, []File) {
	t.Helper()
	dir := t.TempDir()
	env := config.Environment{Name: "prod", Deploy: &config.Deploy{}}
	for _, tc := range cases {
		in, err := os.ReadFile(filepath.Join("testdata", tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tc.name), in, 0o640); err != nil {
			t.Fatal(err)
		}
		env.Deploy.Files = append(env.Deploy.Files, config.DeployFile{Path: tc.name, Format: tc.format, Target: "app", Image: tc.image})
	}
	env.Deploy.Files = append(env.Deploy.Files, config.DeployFile{Path: "other.yaml", Format: config.FormatManifest, Target: "other", Image: "other"})
	cfg := &config.Config{File: filepath.Join(dir, "bakery.yaml"), Dir: dir, Environments: []config.Environment{env}}
	var paths []string
	for _, tc := range cases {
		paths = append(paths, filepath.Join(dir, tc.name))
	}
	files := Select(cfg, &cfg.Environments[0], "app", paths)
	if len(files) != len(cases) {
		t.Fatalf("Select = %d files, want %d", len(files), len(cases))
	}
	return cfg, &cfg.Environments[0], files
}

func TestApply(t *testing.T) {
	cfg, _, files := declare(t)
	if err := Prepare(files); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, f := range files {
		b, _ := os.ReadFile(f.Abs)
		before[f.Abs] = string(b)
	}

	// a dry run: diffs, nothing written
	written, err := Apply(files, pin, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range written {
		if !w.Changed || !strings.Contains(w.Diff, "+++ b/"+files[i].Path) || !strings.Contains(w.Diff, pin.Digest) {
			t.Errorf("dry run of %s: %+v", w.File, w)
		}
		if b, _ := os.ReadFile(files[i].Abs); string(b) != before[files[i].Abs] {
			t.Errorf("dry run wrote %s", w.File)
		}
	}

	written, err = Apply(files, pin, false)
	if err != nil {
		t.Fatal(err)
	}
	mtimes := map[string]time.Time{}
	for i, w := range written {
		f := files[i]
		b, _ := os.ReadFile(f.Abs)
		golden, _ := os.ReadFile(filepath.Join("testdata", filepath.Base(f.Path)+".golden"))
		if !w.Changed || w.Diff != "" || string(b) != string(golden) || w.Ref != pin.Ref() {
			t.Errorf("%s: %+v; content:\n%s", w.File, w, b)
		}
		info, err := os.Stat(f.Abs)
		if err != nil || info.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, %v; want 0640 kept", f.Path, info.Mode(), err)
		}
		mtimes[f.Abs] = info.ModTime()
	}
	entries, _ := os.ReadDir(cfg.Dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".bakery-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// again: nothing changes, nothing is written (not even the mtime)
	time.Sleep(20 * time.Millisecond)
	written, err = Apply(files, pin, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range written {
		info, _ := os.Stat(files[i].Abs)
		if w.Changed || !info.ModTime().Equal(mtimes[files[i].Abs]) {
			t.Errorf("second apply of %s: changed %v, mtime %v → %v", w.File, w.Changed, mtimes[files[i].Abs], info.ModTime())
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	_, _, files := declare(t)
	// an image that is not there
	f := files[1]
	f.Image = "web.image"
	err := Prepare([]File{f})
	want := `values.yaml: helm image "web.image" not found (bakery.yaml environments[prod].deploy.files[1])`
	if err == nil || !strings.HasPrefix(err.Error(), want) || failure.ClassOf(err) != failure.Config {
		t.Errorf("err = %v, want a config error starting %q", err, want)
	}
	// a file broken since
	if err := os.WriteFile(files[0].Abs, []byte("kind: Kustomization\nimages:\n  - name: app: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Prepare(files)
	if err == nil || !strings.HasPrefix(err.Error(), "kustomization.yaml:3: not a kustomize file") || failure.ClassOf(err) != failure.Config || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one config error line naming kustomization.yaml:3", err)
	}
	// a file that is gone
	if err := os.Remove(files[2].Abs); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(files[2:3]); err == nil || !strings.HasPrefix(err.Error(), "manifest.yaml: ") || failure.ClassOf(err) != failure.Config {
		t.Errorf("err = %v, want a config error naming manifest.yaml", err)
	}
}

func TestCheck(t *testing.T) {
	cfg, _, files := declare(t)
	moves := []Move{{Target: "app", Env: "prod"}}
	if err := Check(cfg, moves, []string{files[0].Abs, files[4].Abs}); err != nil {
		t.Errorf("declared paths: %v", err)
	}
	err := Check(cfg, moves, []string{files[0].Abs, filepath.Join(cfg.Dir, "other.yaml")})
	want := "--write " + filepath.Join(cfg.Dir, "other.yaml") + ": is not a deploy file of app in prod (declared: kustomization.yaml, manifest.yaml, prod.tfvars, taskdef.json, values.yaml, variables.tf)"
	if err == nil || !strings.HasPrefix(err.Error(), want) || failure.ClassOf(err) != failure.Config {
		t.Errorf("err = %v\nwant it to start %q", err, want)
	}
	if err := Check(cfg, nil, []string{files[0].Abs}); err == nil || !strings.Contains(err.Error(), "is not a deploy file of any target being moved (none is declared)") {
		t.Errorf("no moves: err = %v", err)
	}
}

// TestApplySerializesPerPath: two targets pinned in one file at once both
// land, each edit re-reading what the other wrote.
func TestApplySerializesPerPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, []byte("# two images\nfront:\n  repository: a\nback:\n  repository: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, image := range []string{"front", "back"} {
		wg.Go(func() {
			f := File{DeployFile: config.DeployFile{Path: "values.yaml", Format: config.FormatHelm, Target: image, Image: image}, Abs: path}
			p := Pin{Repository: "127.0.0.1:5000/prod/" + image, Digest: pin.Digest}
			if _, err := Apply([]File{f}, p, false); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "prod/front") || !strings.Contains(string(b), "prod/back") || !strings.Contains(string(b), "# two images") {
		t.Errorf("want both images pinned:\n%s", b)
	}
}

func TestWriteAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAtomic(filepath.Join(dir, "missing.yaml"), []byte("x")); err == nil {
		t.Error("writing over a file that does not exist: want an error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}
