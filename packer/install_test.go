package packer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPluginInstalledOncePerBinary: packer plugins install runs when the
// plugin binary is new or changed, or its installed copy is gone, and not
// on every build.
func TestPluginInstalledOncePerBinary(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	// A stand-in for packer that logs its calls and installs as packer does.
	fake := filepath.Join(dir, "packer")
	script := `#!/bin/sh
echo "$@" >> ` + calls + `
d="$PACKER_PLUGIN_PATH/github.com/bakeryhq/bakery"
mkdir -p "$d" && cp "$4" "$d/packer-plugin-bakery_v0.1.0_x5.0_linux_amd64" && echo sum > "$d/packer-plugin-bakery_v0.1.0_x5.0_linux_amd64_SHA256SUM"
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, "packer-plugin-bakery")
	if err := os.WriteFile(plugin, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	installs := func() int {
		t.Helper()
		b := &Builder{packer: fake, plugin: plugin, pluginDir: filepath.Join(dir, "plugins")}
		if err := b.ensurePlugin(context.Background()); err != nil {
			t.Fatal(err)
		}
		out, _ := os.ReadFile(calls)
		return strings.Count(string(out), "plugins install")
	}
	if n := installs(); n != 1 {
		t.Fatalf("first build: %d installs, want 1", n)
	}
	if n := installs(); n != 1 {
		t.Errorf("same binary again: %d installs, want still 1", n)
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(plugin, []byte("v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(plugin, later, later)
	if n := installs(); n != 2 {
		t.Errorf("a rebuilt binary: %d installs, want 2", n)
	}
	if err := os.RemoveAll(filepath.Join(dir, "plugins", "github.com")); err != nil {
		t.Fatal(err)
	}
	if n := installs(); n != 3 {
		t.Errorf("installed copy removed: %d installs, want 3", n)
	}
}
