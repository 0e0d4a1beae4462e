package builders

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestGitSource(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required by provenance and must be installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if GitSource(ctx, dir) != nil {
		t.Fatal("a plain directory has no source")
	}
	run := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@e", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	f := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(f, []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", ".")
	run("commit", "-q", "-m", "x")
	run("remote", "add", "origin", "https://git.example/app.git")
	src := GitSource(ctx, dir)
	if src == nil || len(src.Commit) != 40 || src.Dirty || src.URI != "git+https://git.example/app.git" {
		t.Fatalf("clean: %+v", src)
	}
	if err := os.WriteFile(f, []byte("FROM scratch\nCOPY . /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if src := GitSource(ctx, dir); src == nil || !src.Dirty {
		t.Fatalf("dirty: %+v", src)
	}
}
