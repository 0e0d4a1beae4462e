package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := New("test")
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

func TestUsageAndConfigErrorsAreConfigClass(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bakery.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ntargets:\n  web:\n    type: container\n    colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--config", bad}, "bakery.yaml:5: targets.web.colour: unknown key"},
		{[]string{"build", "--config", filepath.Join(dir, "missing.yaml")}, "config file not found"},
		{[]string{"build", "--config", bad, "--output", "yaml"}, `--output: unknown format "yaml"`},
		{[]string{"build", "--config", bad, "--progress", "fancy"}, `--progress "fancy"`},
		{[]string{"build", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"promote", "--all", "web"}, "use --all or name targets, not both"},
		{[]string{"promote", "--parallel", "0"}, "--parallel must be at least 1"},
		{[]string{"status", "--config", bad}, "bakery.yaml:5: targets.web.colour: unknown key"},
		{[]string{"keys", "generate", "extra"}, "argument"},
	} {
		_, err := run(t, tc.args...)
		if failure.ClassOf(err) != failure.Config || failure.ClassOf(err).ExitCode() != 2 {
			t.Errorf("%v: class %v, err %v", tc.args, failure.ClassOf(err), err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestHelpHasExamplesAndExitCodes(t *testing.T) {
	out, err := run(t, "build", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bakery build web", "--metadata-file", "--progress", "--output", "--builder", "--parallel"} {
		if !strings.Contains(out, want) {
			t.Errorf("build --help lacks %q", want)
		}
	}
	out, _ = run(t, "--help")
	if !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "BAKERY_") {
		t.Errorf("root --help lacks exit codes or env:\n%s", out)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 49_300_000: "49.3 MB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
