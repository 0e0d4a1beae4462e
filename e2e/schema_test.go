//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/schemacheck"
)

// checkJSON validates the output of a bakery run with -o json against the
// command's published schema (docs/json): stdout when it printed any, and on
// a failure the last line of stderr's JSON error object.
func checkJSON(t *testing.T, args []string, r result) {
	t.Helper()
	if !wantsJSON(args) {
		return
	}
	name := schemaName(args)
	if name == "" {
		return
	}
	if strings.TrimSpace(r.stdout) != "" {
		if err := schemacheck.Validate(root, name, []byte(r.stdout)); err != nil {
			t.Errorf("bakery %s: %v", strings.Join(args, " "), err)
		}
	}
	if r.code != 0 {
		i := strings.LastIndex(r.stderr, "{\n")
		if i < 0 {
			t.Errorf("bakery %s failed with -o json but printed no JSON error:\n%s", strings.Join(args, " "), r.stderr)
			return
		}
		if err := schemacheck.Validate(root, "error", []byte(r.stderr[i:])); err != nil {
			t.Errorf("bakery %s: %v", strings.Join(args, " "), err)
		}
		var e struct{ ExitCode int }
		if json.Unmarshal([]byte(r.stderr[i:]), &e) == nil && e.ExitCode != r.code {
			t.Errorf("bakery %s: exit %d, JSON error says %d", strings.Join(args, " "), r.code, e.ExitCode)
		}
	}
}

func wantsJSON(args []string) bool {
	for i, a := range args {
		if (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// schemaName is the schema of the command args run: its first word, or its
// first two for a command group (policy eval, keys generate).
func schemaName(args []string) string {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return ""
	}
	if (args[0] == "policy" || args[0] == "keys") && len(args) > 1 {
		return schemacheck.Name(args[0] + " " + args[1])
	}
	return args[0]
}
