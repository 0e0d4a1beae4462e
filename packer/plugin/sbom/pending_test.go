package sbom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWaitForABackgroundCatalog: the post-processor waits for the SBOM a
// background bakery-sbom of its own run is writing, gets its error when it
// failed, is not held by another run's leftovers, and is not left waiting
// by a provisioner that died.
func TestWaitForABackgroundCatalog(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "bakery-sbom-x.json")
	if err := Wait(ctx, out, "run-1"); err != nil {
		t.Fatalf("nothing pending: %v", err)
	}

	if err := startPending(out, "run-1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- Wait(ctx, out, "run-1") }()
	select {
	case err := <-done:
		t.Fatalf("returned while the catalog was pending: %v", err)
	default:
	}
	if err := os.WriteFile(out, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	finishPending(out, "run-1", nil)
	if err := <-done; err != nil {
		t.Errorf("after the SBOM was written: %v", err)
	}

	if err := startPending(out, "run-2"); err != nil {
		t.Fatal(err)
	}
	finishPending(out, "run-2", errors.New("bakery-sbom: cataloging: boom"))
	if err := Wait(ctx, out, "run-2"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failed background catalog: %v, want its error", err)
	}
	if err := Wait(ctx, out, "run-3"); err != nil {
		t.Errorf("another run's error counted: %v", err)
	}

	if err := writeFile(out+".pending", "run-0\n1\n"); err != nil {
		t.Fatal(err)
	}
	if err := Wait(ctx, out, "run-4"); err != nil {
		t.Errorf("another run's pending marker held the wait: %v", err)
	}
	dead := 1 << 22 // Linux pids are below pid_max, which is at most 1<<22: no such process
	if err := writeFile(out+".pending", fmt.Sprintf("run-5\n%d\n", dead)); err != nil {
		t.Fatal(err)
	}
	if err := Wait(ctx, out, "run-5"); err == nil || !strings.Contains(err.Error(), "stopped before writing") {
		t.Errorf("a dead provisioner: %v, want an error", err)
	}
}
