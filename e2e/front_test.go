//go:build e2e

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBinary runs a binary and returns its stdout, stderr and exit code.
func runBinary(t *testing.T, path string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(path, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", path, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestFrontAnswersAsCore: the bakery binary users run answers --help and
// --version from its embedded tree with what bakery-core prints, and hands
// everything else to bakery-core: its exit codes and JSON errors come through.
func TestFrontAnswersAsCore(t *testing.T) {
	core := filepath.Join(filepath.Dir(bin), "bakery-core")
	for _, args := range [][]string{{"--version"}, {"status", "--help"}, {"promote", "--help"}, {"help", "rollback"}} {
		fOut, fErr, fCode := runBinary(t, bin, args...)
		cOut, cErr, cCode := runBinary(t, core, args...)
		if fOut != cOut || fErr != cErr || fCode != cCode || fCode != 0 {
			t.Errorf("bakery %s: the front printed (exit %d)\n%s%s\nbakery-core printed (exit %d)\n%s%s", strings.Join(args, " "), fCode, fOut, fErr, cCode, cOut, cErr)
		}
	}
	// Run through the front: bakery-core's classification and exit code.
	r := bakery(t, nil, "-o", "json", "statuss")
	if r.code != 2 || !strings.Contains(r.stderr, `"class": "config"`) {
		t.Errorf("bakery -o json statuss: exit %d, stderr %q; want bakery-core's JSON usage error, exit 2", r.code, r.stderr)
	}
}

// TestFrontWithoutCore: a front copied without bakery-core still answers
// --help, and refuses to run a command with one line that says what to
// install, exit 2 (config: the installation is the user's to fix).
func TestFrontWithoutCore(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	alone := filepath.Join(dir, "bakery")
	if err := os.WriteFile(alone, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runBinary(t, alone, "status", "--help"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("bakery status --help without bakery-core: exit %d, output %q", code, out)
	}
	cmd := exec.Command(alone, "status")
	cmd.Env = []string{"PATH=" + dir} // no bakery-core on PATH either
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "bakery-core not found next to bakery or on PATH: install both binaries") ||
		strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("bakery status without bakery-core: exit %d, output %q; want one line naming bakery-core, exit 2", code, out)
	}
}
