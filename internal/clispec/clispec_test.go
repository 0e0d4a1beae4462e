package clispec

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// sample is a tree with each kind of flag bakery uses: defaults that pflag
// prints and zero ones it does not, hidden and deprecated flags, persistent
// flags, aliases, examples and a command group without a run function.
func sample() *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "a tool", Long: "A tool.\n\nLong text.", Version: "v1.2.3",
		SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringP("config", "c", "", "config file")
	root.PersistentFlags().StringP("output", "o", "text", "output format")
	root.PersistentFlags().String("secret", "", "hidden one")
	_ = root.PersistentFlags().MarkHidden("secret")

	run := func(*cobra.Command, []string) error { return nil }
	status := &cobra.Command{Use: "status [TARGET...]", Aliases: []string{"st"}, Short: "show status",
		Example: "  tool status app --env prod", RunE: run}
	f := status.Flags()
	f.StringArray("env", nil, "environment (repeatable)")
	f.StringSlice("platforms", []string{"linux/amd64"}, "platforms")
	f.Duration("timeout", 0, "timeout")
	f.Duration("wait", 30*time.Second, "wait")
	f.Bool("all", false, "all")
	f.Bool("color", true, "colour")
	f.Int("parallel", 4, "parallel")
	f.Int("zero", 0, "zero int")
	f.String("to", "", "deprecated alias")
	_ = f.MarkDeprecated("to", "use --env")
	keys := &cobra.Command{Use: "keys", Short: "manage keys"}
	keys.AddCommand(&cobra.Command{Use: "generate", Short: "generate a key pair", RunE: run})
	root.AddCommand(status, keys)
	return root
}

func execute(root *cobra.Command, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestAnswerPrintsWhatTheProgramPrints renders help, usage and the version
// from the original tree and from its capture (through JSON, as the front
// embeds it) and requires the same bytes.
func TestAnswerPrintsWhatTheProgramPrints(t *testing.T) {
	raw, err := json.Marshal(Capture(sample()))
	if err != nil {
		t.Fatal(err)
	}
	var spec Command
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		nil, {"--help"}, {"-h"}, {"--version"}, {"status", "--help"}, {"st", "-h"}, {"keys"}, {"keys", "generate", "--help"},
		{"help", "status"}, {"help", "nothing"}, {"-c", "x.yaml", "status", "--env", "prod", "--help"}, {"completion", "bash"},
	} {
		wantOut, wantErr, err := execute(sample(), args...)
		if err != nil {
			t.Fatalf("%q: the original tree failed: %v", args, err)
		}
		gotOut, gotErr, ok := Answer(spec, "v1.2.3", args)
		if !ok {
			t.Errorf("%q: Answer hands it to the full program, want it answered", args)
			continue
		}
		if string(gotOut) != wantOut || string(gotErr) != wantErr {
			t.Errorf("%q: Answer printed\n%s%s\nthe program prints\n%s%s", args, gotOut, gotErr, wantOut, wantErr)
		}
	}
}

// TestAnswerHandsOverWhatRuns: running a command, any error (the full program
// classifies it) and dynamic completion go to the full program.
func TestAnswerHandsOverWhatRuns(t *testing.T) {
	spec := Capture(sample())
	for _, args := range [][]string{
		{"status"}, {"status", "app", "--env", "prod"}, {"keys", "generate"}, {"nope"}, {"status", "--bogus"},
		{"status", "--parallel"}, {"__complete", "status", ""}, {"status", "--to", "prod"},
	} {
		if out, errOut, ok := Answer(spec, "v1", args); ok {
			t.Errorf("%q answered (%q, %q), want it handed to the full program", args, out, errOut)
		}
	}
}

// TestCaptureKeepsWhatHelpDoesNotShow: a rebuilt tree parses as the original
// does (a bool flag without a value, a deprecated flag), so the front never
// answers what the program would reject.
func TestCaptureKeepsWhatHelpDoesNotShow(t *testing.T) {
	spec := Capture(sample())
	status := spec.Commands[1]
	if status.Use != "status [TARGET...]" || !status.Runnable {
		t.Fatalf("commands are %+v, want status second (cobra sorts) and runnable", spec.Commands)
	}
	byName := map[string]Flag{}
	for _, f := range status.Flags {
		byName[f.Name] = f
	}
	for name, want := range map[string]Flag{
		"all":     {Name: "all", Usage: "all", Type: "bool", NoOptDefVal: "true"},
		"color":   {Name: "color", Usage: "colour", Type: "bool", DefValue: "true", NoOptDefVal: "true"},
		"timeout": {Name: "timeout", Usage: "timeout", Type: "duration"},
		"wait":    {Name: "wait", Usage: "wait", Type: "duration", DefValue: "30s"},
		"env":     {Name: "env", Usage: "environment (repeatable)", Type: "stringArray"},
		"to":      {Name: "to", Usage: "deprecated alias", Type: "string", Deprecated: "use --env", Hidden: true},
	} {
		got, _ := json.Marshal(byName[name])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("flag %s captured as %s, want %s", name, got, w)
		}
	}
	if _, _, ok := Answer(spec, "v1", []string{"status", "--all", "--help"}); !ok {
		t.Error("status --all --help is handed over: a bool flag without a value must parse as it does in the program")
	}
}
