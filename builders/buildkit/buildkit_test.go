package buildkit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

func request(t *testing.T, dockerfile string, mutate func(*config.Target)) builders.Request {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app", "Dockerfile"), []byte(dockerfile), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt := &config.Target{Name: "web", Type: config.TypeContainer, Context: "app", Dockerfile: "Dockerfile"}
	if mutate != nil {
		mutate(tgt)
	}
	return builders.Request{Target: tgt, Dir: dir}
}

func TestPrepare(t *testing.T) {
	const good = "FROM scratch AS base\nCOPY . /\nFROM base AS final\n"
	for _, tc := range []struct {
		name       string
		dockerfile string
		mutate     func(*config.Target)
		class      failure.Class
		want       string
	}{
		{"ok", good, nil, -1, ""},
		{"stage exists", good, func(t *config.Target) { t.Target = "base" }, -1, ""},
		{"missing context", good, func(t *config.Target) { t.Context = "nope" }, failure.Config, "context directory"},
		{"missing dockerfile", good, func(t *config.Target) { t.Dockerfile = "Other" }, failure.Config, "reading Dockerfile"},
		{"syntax error", "FROM scratch\nRUNN echo hi\n", nil, failure.Build, "dockerfile parse error on line 2: unknown instruction: RUNN"},
		{"no FROM", "# nothing\n", nil, failure.Build, "file with no instructions"},
		{"unknown stage", good, func(t *config.Target) { t.Target = "missing" }, failure.Build, `no stage named "missing"`},
		{"secret env unset", good, func(t *config.Target) {
			t.Secrets = []config.Secret{{ID: "tok", Env: "BAKERY_TEST_SURELY_UNSET"}}
		}, failure.Config, "BAKERY_TEST_SURELY_UNSET is not set"},
		{"secret file missing", good, func(t *config.Target) {
			t.Secrets = []config.Secret{{ID: "tok", File: "nope.txt"}}
		}, failure.Config, `secret "tok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := prepare(request(t, tc.dockerfile, tc.mutate))
			if tc.class < 0 {
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(in.dockerfile) != "Dockerfile" || in.contextFS == nil {
					t.Errorf("input = %+v", in)
				}
				return
			}
			if err == nil {
				t.Fatal("prepare succeeded")
			}
			if failure.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) ||
				!strings.HasPrefix(err.Error(), `target "web": `) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q (class %v), want class %v containing %q", err, failure.ClassOf(err), tc.class, tc.want)
			}
		})
	}
}

func TestFrontendAttrs(t *testing.T) {
	tgt := &config.Target{
		Target:    "final",
		Platforms: []string{"linux/amd64", "linux/arm64"},
		Args:      map[string]string{"VERSION": "1", "BASE": "target:golden-base"},
		Labels:    map[string]string{"org.opencontainers.image.title": "web"},
	}
	pin := "sha256:" + strings.Repeat("ab", 32)
	req := builders.Request{Target: tgt, SourceDateEpoch: 1700000000, TargetArgs: map[string]builders.TargetRef{
		"BASE": {Target: "golden-base", Image: "127.0.0.1:5000/dev/golden-base:dev", Digest: pin},
	}}
	bases := []base{{Ref: "127.0.0.1:5000/dev/golden-base:dev", Digest: pin}}
	got := frontendAttrs(req, "Dockerfile.prod", bases)
	want := map[string]string{
		"filename":                             "Dockerfile.prod",
		"target":                               "final",
		"platform":                             "linux/amd64,linux/arm64",
		"multi-platform":                       "true",
		"build-arg:VERSION":                    "1",
		"build-arg:BASE":                       "127.0.0.1:5000/dev/golden-base:dev",
		"build-arg:SOURCE_DATE_EPOCH":          "1700000000",
		"label:org.opencontainers.image.title": "web",
		"context:127.0.0.1:5000/dev/golden-base:dev": "docker-image://127.0.0.1:5000/dev/golden-base@" + pin,
	}
	if len(got) != len(want) {
		t.Errorf("attrs = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attrs[%q] = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["attest:provenance"]; ok {
		t.Error("BuildKit's own provenance would change the index digest of every build")
	}
}

func TestSolveErrorClasses(t *testing.T) {
	build := solveError("target \"web\"", errString("failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1"))
	if failure.ClassOf(build) != failure.Build {
		t.Errorf("step failure class = %v", failure.ClassOf(build))
	}
	push := solveError("target \"web\"", errString("failed to push 127.0.0.1:5999/x: dial tcp 127.0.0.1:5999: connect: connection refused"))
	if failure.ClassOf(push) != failure.Unavailable {
		t.Errorf("push failure class = %v", failure.ClassOf(push))
	}
	if failure.ClassOf(solveError("x", context.Canceled)) != failure.Internal {
		t.Error("cancel should not be a build failure")
	}
}

func TestNewUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := New(context.Background(), config.Builder{Address: "unix://" + sock}, "", nil)
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "buildkitd at unix://"+sock) {
		t.Fatalf("err = %v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
