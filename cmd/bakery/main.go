// Command bakery bakes golden images, attests them and promotes them by digest.
//
// This binary is bakery's front: it embeds the command tree (spec.json,
// generated from cmd/bakery/cli) and answers --help, help, --version and
// completion scripts itself, in a few milliseconds. Everything else it hands,
// arguments and environment unchanged, to bakery-core next to it, which links
// BuildKit, syft, cosign and the cloud SDKs and spends about 0.1 s and 160 MB
// initialising them before main (BENCHMARKS.md, "Start-up").
package main

//go:generate go run ../../hack/clispec -o spec.json

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/bakeryhq/bakery/internal/clispec"
)

// version is set at release time with -ldflags "-X main.version=...", as
// bakery-core's is.
var version = "dev"

// core is the full program's file name.
const core = "bakery-core"

//go:embed spec.json
var specJSON []byte

func main() {
	var spec clispec.Command
	if err := json.Unmarshal(specJSON, &spec); err != nil {
		fail(fmt.Errorf("the embedded command tree: %w: rebuild bakery (go generate ./cmd/bakery)", err))
	}
	if stdout, stderr, ok := clispec.Answer(spec, version, os.Args[1:]); ok {
		_, _ = os.Stdout.Write(stdout)
		_, _ = os.Stderr.Write(stderr)
		return
	}
	path, err := findCore()
	if err != nil {
		fail(err)
	}
	// Exec replaces this process: signals, exit codes and the terminal are
	// bakery-core's own, as if it had been run directly.
	err = syscall.Exec(path, append([]string{path}, os.Args[1:]...), os.Environ())
	fail(fmt.Errorf("run %s: %w", path, err))
}

// findCore looks for bakery-core next to this binary (symlinks resolved, as
// a release archive or `make build` lays them out), then on PATH.
func findCore() (string, error) {
	if self, err := os.Executable(); err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			next := filepath.Join(filepath.Dir(self), core)
			if _, err := os.Stat(next); err == nil {
				return next, nil
			}
		}
	}
	path, err := exec.LookPath(core)
	if errors.Is(err, exec.ErrNotFound) || err == nil && path == "" {
		return "", fmt.Errorf("%s not found next to bakery or on PATH: install both binaries of the release archive, or run `make build` (go build -o DIR/ ./cmd/bakery ./cmd/bakery-core)", core)
	}
	return path, err
}

// fail prints err as bakery-core prints a config-class error and exits 2
// (a missing or broken installation is the user's to fix, like a bad config).
func fail(err error) {
	fmt.Fprintln(os.Stderr, "error: bakery: "+err.Error())
	os.Exit(2)
}
