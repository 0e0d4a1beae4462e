package chroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoveUnmountedRefusesMountedDirectories: /proc is always mounted, so
// removing / (or a directory containing a mount point) must be refused; an
// ordinary directory is removed.
func TestRemoveUnmountedRefusesMountedDirectories(t *testing.T) {
	if err := removeUnmounted("/"); err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("removeUnmounted(/) = %v", err)
	}
	dir := filepath.Join(t.TempDir(), "output")
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeUnmounted(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
}

func TestPrepare(t *testing.T) {
	src := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var b Builder
	vars, _, err := b.Prepare(map[string]interface{}{"source_rootfs": src, "packer_build_name": "debian"})
	if err != nil {
		t.Fatal(err)
	}
	if b.config.OutputDirectory != "output-debian" || len(b.config.ChrootMounts) != 4 || len(vars) != 3 {
		t.Errorf("defaults: %+v, generated %v", b.config, vars)
	}
	if _, _, err := new(Builder).Prepare(map[string]interface{}{"chroot_mounts": [][]string{{"proc", "/proc"}}}); err == nil ||
		!strings.Contains(err.Error(), "source_rootfs is required") || !strings.Contains(err.Error(), "chroot_mounts[0]") {
		t.Errorf("Prepare(bad) = %v", err)
	}
}

func TestArtifactID(t *testing.T) {
	a := &Artifact{File: "/o/rootfs.tar.gz", AMIs: map[string]string{"us-east-1": "ami-2", "eu-west-1": "ami-1"}}
	if a.Id() != "eu-west-1:ami-1,us-east-1:ami-2" {
		t.Errorf("Id = %s", a.Id())
	}
	if (&Artifact{File: "/o/rootfs.tar.gz"}).Id() != "/o/rootfs.tar.gz" {
		t.Error("file artifact id")
	}
}
