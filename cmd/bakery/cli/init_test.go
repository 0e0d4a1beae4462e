package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
)

// TestInitWritesAConfigThatLoads: bakery init's bakery.yaml loads as it is,
// its keys sign and are cosign-compatible, and a second init keeps both.
func TestInitWritesAConfigThatLoads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My Service")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv(env.SigningPassword.String(), "pw")
	out, err := run(t, "init", "--registry", "127.0.0.1:5000/team/")
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no Dockerfile") {
		t.Errorf("init without a Dockerfile should warn:\n%s", out)
	}
	cfg, err := config.Load(config.Options{File: filepath.Join(dir, "bakery.yaml")})
	if err != nil {
		t.Fatalf("the written bakery.yaml does not load: %v", err)
	}
	if _, err := cfg.LookupTarget("my-service"); err != nil || len(cfg.Environments) != 3 || cfg.Environments[2].Repository != "127.0.0.1:5000/team/prod" {
		t.Errorf("config: targets %v, environments %+v (%v)", cfg.TargetNames(), cfg.Environments, err)
	}
	if _, err := attest.LoadSigner(context.Background(), filepath.Join(dir, "keys", "bakery.key"), []byte("pw")); err != nil {
		t.Errorf("the written key does not load: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "keys", "bakery.pub"))
	_, err = run(t, "init")
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second init: %v, want exit 2 naming the existing file", err)
	}
	if out, err := run(t, "init", "--force", "--target", "web"); err != nil || !strings.Contains(out, "Kept keys/bakery.key") {
		t.Errorf("init --force: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "keys", "bakery.pub"))
	if string(before) != string(after) {
		t.Error("init --force replaced the existing key pair")
	}
	if _, err := run(t, "init", "-o", "json", "--force"); failure.ClassOf(err) != failure.Config {
		t.Errorf("init -o json: %v, want a usage error", err)
	}
}
