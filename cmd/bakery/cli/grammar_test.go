package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestOneGrammar is docs/cli.md as a table over every command: read
// commands take TARGET... and a repeatable --env; every command that
// verifies takes --key; --to is always an environment; the builder's and
// the actor's flags exist only where they are used.
func TestOneGrammar(t *testing.T) {
	cmds := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			cmds[strings.TrimPrefix(sub.CommandPath(), "bakery ")] = sub
			walk(sub)
		}
	}
	walk(New("test"))
	read := []string{"status", "history", "drift", "outdated", "report"}
	verifying := []string{"verify", "sbom", "inspect", "diff", "status", "history", "drift", "outdated", "find", "report",
		"promote", "rollback", "revoke", "import", "export", "policy eval", "rebuild", "scan", "rescan", "admission", "gc"}
	recording := []string{"build", "promote", "rollback", "revoke", "import", "gc"}
	building := []string{"build", "rebuild", "version", "test"}
	for name, c := range cmds {
		if !c.Runnable() {
			continue
		}
		flag := func(n string) string {
			if f := c.Flags().Lookup(n); f != nil && f.Deprecated == "" {
				return f.Value.Type()
			}
			return ""
		}
		if slices.Contains(read, name) {
			if flag("env") != "stringArray" || c.Args != nil || !strings.Contains(c.Use, "[TARGET...]") || !strings.Contains(c.Use, "[--env ENV]...") {
				t.Errorf("%s: a read command takes [TARGET...] and a repeatable --env (use %q, --env %q)", name, c.Use, flag("env"))
			}
		}
		if got := flag("key") == "stringArray"; got != slices.Contains(verifying, name) {
			t.Errorf("%s: --key present = %v, want %v", name, got, !got)
		}
		if got := flag("actor") != ""; got != slices.Contains(recording, name) {
			t.Errorf("%s: --actor present = %v, want %v", name, got, !got)
		}
		if got := flag("builder") != ""; got != slices.Contains(building, name) {
			t.Errorf("%s: --builder present = %v, want %v", name, got, !got)
		}
		if f := c.Flags().Lookup("to"); f != nil && f.Deprecated == "" && !strings.Contains(f.Usage, "environment") {
			t.Errorf("%s: --to is %q; it names an environment everywhere", name, f.Usage)
		}
		if c.Flags().Lookup("max-parallel") != nil && flag("max-parallel") != "" {
			t.Errorf("%s: --max-parallel is spelled --parallel", name)
		}
	}
	if f := cmds["find"].Flags().Lookup("target"); f == nil || f.Value.Type() != "stringArray" || cmds["find"].Flags().Lookup("env").Value.Type() != "stringArray" {
		t.Error("find takes its targets as a repeatable --target (its argument is the package) and a repeatable --env")
	}
}

// TestDeprecatedSpellingsStillWork: rollback --to DIGEST and build
// --max-parallel keep working for one release, with a warning.
func TestDeprecatedSpellingsStillWork(t *testing.T) {
	out, err := run(t, "rollback", "web", "--env", "prod", "--to", "sha256:abc", "--config", "/nonexistent/bakery.yaml")
	if err == nil || !strings.Contains(out, "--to has been deprecated, use --digest") {
		t.Errorf("rollback --to: %v\n%s", err, out)
	}
	out, _ = run(t, "build", "--max-parallel", "2", "--config", "/nonexistent/bakery.yaml")
	if !strings.Contains(out, "--max-parallel has been deprecated, use --parallel") {
		t.Errorf("build --max-parallel:\n%s", out)
	}
}
