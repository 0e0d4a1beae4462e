package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// errorsConfig writes a bakery.yaml with target web, environments dev and
// prod, and a trusted key pair that loads.
func errorsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := attest.GenerateKeys(filepath.Join(dir, "bakery"), nil); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bakery.yaml")
	yaml := "version: 1\ntargets:\n  web:\n    type: container\n    context: .\n" +
		"environments:\n  - name: dev\n    repository: 127.0.0.1:1/dev\n  - name: prod\n    repository: 127.0.0.1:1/prod\n" +
		"signing:\n  key: bakery.key\nverification:\n  keys: [bakery.pub]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wantOneLine checks err's class and that its single line has every want
// and none of notWant.
func wantOneLine(t *testing.T, what string, err error, class failure.Class, want []string, notWant ...string) {
	t.Helper()
	if failure.ClassOf(err) != class || err == nil {
		t.Errorf("%s: class %v, want %v: %v", what, failure.ClassOf(err), class, err)
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: not one line: %q", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: %q lacks %q", what, msg, w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(msg, w) {
			t.Errorf("%s: %q names %q", what, msg, w)
		}
	}
}

// TestKeyFlagIsBlamedForItsOwnKeys: --key replaces verification.keys, and a
// --key file that does not load is blamed on --key, on every kind of command
// that takes it; a bad verification.keys entry is still blamed on it.
func TestKeyFlagIsBlamedForItsOwnKeys(t *testing.T) {
	cfg := errorsConfig(t)
	missing := filepath.Join(t.TempDir(), "missing.pub")
	image := "127.0.0.1:1/dev/web@sha256:" + strings.Repeat("a", 64)
	for _, args := range [][]string{
		{"status", "--config", cfg, "--key", missing},
		{"history", "web", "--config", cfg, "--key", missing},
		{"find", "openssl", "--config", cfg, "--key", missing},
		{"report", "--out", t.TempDir(), "--config", cfg, "--key", missing},
		{"verify", image, "--config", cfg, "--key", missing},
	} {
		_, err := run(t, args...)
		wantOneLine(t, args[0], err, failure.Config, []string{"--key " + missing, "not found", "--key"}, "verification.keys")
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "[bakery.pub]", "[nope.pub]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "status", "--config", cfg)
	wantOneLine(t, "status with a bad verification.keys", err, failure.Config, []string{"verification.keys ", "nope.pub", "not found"}, "--key")
}

// TestExportUnknownTargetIsAConfigError: the one-line config error listing
// the known targets (exit 2), before anything is verified or built.
func TestExportUnknownTargetIsAConfigError(t *testing.T) {
	cfg := errorsConfig(t)
	out := filepath.Join(t.TempDir(), "b.tar")
	_, err := run(t, "export", "nosuch", "--env", "prod", "--out", out, "--config", cfg, "--progress", "quiet")
	wantOneLine(t, "export nosuch", err, failure.Config, []string{`target "nosuch"`, "not defined", "known targets: web"}, "buildkit", "rpc error")
	_, err = run(t, "export", "web", "--env", "staging", "--out", out, "--config", cfg, "--progress", "quiet")
	wantOneLine(t, "export --env staging", err, failure.Config, []string{`environment "staging"`, "environments: dev, prod"})
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused export wrote %s (%v)", out, err)
	}
}

// TestReportDashOIsNotADirectory: report -o DIR says did you mean --out DIR.
func TestReportDashOIsNotADirectory(t *testing.T) {
	_, err := run(t, "report", "-o", "site/")
	wantOneLine(t, "report -o site/", err, failure.Config, []string{`--output: unknown format "site/"`, "did you mean --out site/?"})
	if failure.ClassOf(err).ExitCode() != 2 {
		t.Errorf("exit %d", failure.ClassOf(err).ExitCode())
	}
}

// TestSBOMPlatformIsAUsageError: a --platform that is not one, or that the
// image does not have, is a usage error (exit 2), not a verification
// failure (exit 4); a platform it has with no SBOM stays exit 4.
func TestSBOMPlatformIsAUsageError(t *testing.T) {
	_, err := run(t, "sbom", "127.0.0.1:1/x@sha256:"+strings.Repeat("a", 64), "--platform", "arm64", "--key", "k.pub")
	wantOneLine(t, "sbom --platform arm64", err, failure.Config, []string{"--platform arm64", "not a platform", "os/arch"})

	srv := httptest.NewServer(bakerytest.Handler())
	t.Cleanup(srv.Close)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := push(t, srv, "web", linuxAMD64(t, img))
	_, err = selectSBOM(context.Background(), ref, &attest.Report{}, attest.PredicateSPDX, "linux/arm64")
	wantOneLine(t, "linux/arm64 of a linux/amd64 image", err, failure.Config, []string{"--platform linux/arm64", "no such platform", "linux/amd64"})
	_, err = selectSBOM(context.Background(), ref, &attest.Report{}, attest.PredicateSPDX, "linux/amd64")
	wantOneLine(t, "linux/amd64 without an SBOM", err, failure.Verify, []string{"no verified", "linux/amd64"})
}
