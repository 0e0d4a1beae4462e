package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/clispec"
)

// TestSpecIsGenerated: the bakery front (cmd/bakery) answers --help from
// spec.json, so the file must be this tree's capture.
func TestSpecIsGenerated(t *testing.T) {
	want, err := json.MarshalIndent(clispec.Capture(New("")), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), want) {
		t.Error("cmd/bakery/spec.json is stale: run go generate ./cmd/bakery")
	}
}

// commandPaths is every command's path below root, root's own (nil) first.
func commandPaths(cmd *cobra.Command, prefix []string) [][]string {
	out := [][]string{prefix}
	for _, sub := range cmd.Commands() {
		out = append(out, commandPaths(sub, append(append([]string{}, prefix...), sub.Name()))...)
	}
	return out
}

// TestFrontAnswersAsTheProgramDoes runs every command's --help, and the
// version, help and completion invocations, on the full tree and through the
// front's rebuilt one, and requires the same output byte for byte.
func TestFrontAnswersAsTheProgramDoes(t *testing.T) {
	const version = "v9.9.9"
	spec := clispec.Capture(New(""))
	invocations := [][]string{{"--version"}, {"help"}, {"help", "promote"}, {"completion", "bash"}, {"keys"},
		{"-o", "json", "status", "--env", "prod", "--help"}}
	for _, path := range commandPaths(New(version), nil) {
		invocations = append(invocations, append(path, "--help"))
	}
	for _, args := range invocations {
		root := New(version)
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("bakery %s: %v", strings.Join(args, " "), err)
		}
		gotOut, gotErr, ok := clispec.Answer(spec, version, args)
		switch {
		case !ok:
			t.Errorf("bakery %s: the front hands it to bakery-core, want it answered", strings.Join(args, " "))
		case string(gotOut) != out.String() || string(gotErr) != errOut.String():
			t.Errorf("bakery %s: the front prints\n%s%s\nbakery-core prints\n%s%s", strings.Join(args, " "), gotOut, gotErr, out.String(), errOut.String())
		}
	}
	if len(invocations) < 25 {
		t.Errorf("only %d invocations: is the tree walked?", len(invocations))
	}
}

// TestFrontHandsOverEveryCommand: running any runnable command, and any
// usage error (bakery-core classifies it, exit 2), is bakery-core's.
func TestFrontHandsOverEveryCommand(t *testing.T) {
	spec := clispec.Capture(New(""))
	n := 0
	for _, path := range commandPaths(New(""), nil) {
		root := New("")
		cmd, _, err := root.Find(path)
		if err != nil || !cmd.Runnable() {
			continue
		}
		n++
		if _, _, ok := clispec.Answer(spec, "v1", path); ok {
			t.Errorf("bakery %s is answered by the front, want it run by bakery-core", strings.Join(path, " "))
		}
	}
	for _, args := range [][]string{{"statuss"}, {"status", "--no-such-flag"}, {"__complete", "promote", ""}} {
		if _, _, ok := clispec.Answer(spec, "v1", args); ok {
			t.Errorf("bakery %s is answered by the front, want it run by bakery-core", strings.Join(args, " "))
		}
	}
	if n < 20 {
		t.Errorf("only %d runnable commands found", n)
	}
}
