//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/imagetest"
)

// distroless pushes an image with one static program, /hello, and nothing
// else (no shell, no cat), and returns it by digest.
func distroless(t *testing.T) (string, v1.Image) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	prog := "package main\n\nimport (\"fmt\"; \"os\")\n\nfunc main() { fmt.Println(\"hello from\", os.Args[0]) }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(layer.Bytes(), types.OCIUncompressedLayer)})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{Entrypoint: []string{"/hello"}}, RootFS: mustRootFS(t, img)})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(regAddr+"/"+runID+"/distroless", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(d.String()), img); err != nil {
		t.Fatal(err)
	}
	return repo.Digest(d.String()).String(), img
}

func mustRootFS(t *testing.T, img v1.Image) v1.RootFS {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS
}

// TestDistrolessOnBuildKit: an image with no shell and no cat is tested on
// the real buildkitd. A test that runs one process runs (its container is
// that process); a test with setup, which needs a container kept up between
// processes, FAILS and says why, rather than hanging or passing.
func TestDistrolessOnBuildKit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, img := distroless(t)
	b := testBuilder(t, ctx)
	s, err := imagetest.Parse("distroless.yaml", []byte(`schemaVersion: 2.0.0
timeout: 20s
commandTests:
  - name: says hello
    command: /hello
    expectedOutput: ["^hello from /hello"]
  - name: needs a second process
    setup: [["/hello"]]
    command: /hello
  - name: no shell
    command: sh
    args: ["-c", "true"]
    exitCode: 0
fileExistenceTests:
  - name: no shell file
    path: /bin/sh
    shouldExist: false
`))
	if err != nil {
		t.Fatal(err)
	}
	var res imagetest.Result
	if _, err := b.Test(ctx, image, "linux/amd64", "", "/", func(ctx context.Context, r imagetest.Runner) error {
		res, err = imagetest.Run(ctx, s, img, r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !contains(res.PassedTests, "says hello") || !contains(res.PassedTests, "no shell file") {
		t.Errorf("passed %v, want says hello and no shell file: %+v", res.PassedTests, res.Bakery.Problems)
	}
	if !contains(res.FailedTests, "needs a second process") || !contains(res.FailedTests, "no shell") {
		t.Errorf("failed %v, want the setup test and the shell test", res.FailedTests)
	}
	if why := strings.TrimSpace(problemOf(res, "needs a second process")); !strings.Contains(why, "no cat") {
		t.Errorf("the setup test's problem %q, want it to say the image has no cat to keep a container up", why)
	}
}

// problemOf is what res says about test.
func problemOf(res imagetest.Result, test string) string {
	var out []string
	for _, p := range res.Bakery.Problems {
		if p.Test == test {
			out = append(out, p.Reason)
		}
	}
	return strings.Join(out, "; ")
}
