//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeTryItYourself runs the README's "Now try it yourself" steps
// exactly as written, in bash with -e, after `make build` (what make demo
// and make up build do): a newcomer's first session by hand.
func TestReadmeTryItYourself(t *testing.T) {
	readme := readFile(t, filepath.Join(root, "README.md"))
	_, block, ok := strings.Cut(readme, "<!-- try-it-yourself -->\n")
	block, _, ok2 := strings.Cut(block, "<!-- /try-it-yourself -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no try-it-yourself block")
	}
	block = strings.TrimPrefix(strings.TrimSpace(block), "```sh\n")
	block = strings.TrimSuffix(block, "```")
	if strings.Count(block, "\nbakery ") < 5 {
		t.Fatalf("the try-it-yourself block is too short to be the README's:\n%s", block)
	}
	if out, err := exec.Command("make", "-C", root, "-s", "build").CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	t.Logf("README steps:\n%s\n%s", block, out)
	if err != nil {
		t.Fatalf("the README's steps fail as written: %v", err)
	}
	for _, want := range []string{"REPRODUCED", "staging"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the steps' output lacks %q", want)
		}
	}
}
