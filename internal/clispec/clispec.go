// Package clispec captures a cobra command tree as data and rebuilds it, so a
// small binary can answer `--help`, `help`, `--version` and `completion`
// exactly as the full program would, without linking (and initialising) the
// packages the commands use.
//
// bakery ships two binaries: bakery-core is the whole program, and bakery is a
// front of a few megabytes that embeds the captured tree. The front answers
// what needs only the tree and hands every other invocation, unchanged, to
// bakery-core (see cmd/bakery). Every package Go links into a binary runs its
// init before main, so a binary that links BuildKit, syft, cosign and the cloud
// SDKs spends about 0.1 s and 160 MB before it reads its arguments; the front
// spends neither.
package clispec

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Command is one cobra command as data: what its help, usage and completion
// need, never how it runs.
type Command struct {
	Use                   string            `json:"use"`
	Aliases               []string          `json:"aliases,omitempty"`
	SuggestFor            []string          `json:"suggestFor,omitempty"`
	Short                 string            `json:"short,omitempty"`
	Long                  string            `json:"long,omitempty"`
	Example               string            `json:"example,omitempty"`
	Deprecated            string            `json:"deprecated,omitempty"`
	Hidden                bool              `json:"hidden,omitempty"`
	Runnable              bool              `json:"runnable,omitempty"`
	DisableFlagsInUseLine bool              `json:"disableFlagsInUseLine,omitempty"`
	ValidArgs             []string          `json:"validArgs,omitempty"`
	Annotations           map[string]string `json:"annotations,omitempty"`
	Flags                 []Flag            `json:"flags,omitempty"`
	PersistentFlags       []Flag            `json:"persistentFlags,omitempty"`
	Commands              []Command         `json:"commands,omitempty"`
}

// Flag is one flag as data. DefValue is empty when pflag would not print the
// default (it is its type's zero value): the rebuilt flag's value type is
// generic, so pflag cannot tell "0s" or "[]" is zero by itself.
type Flag struct {
	Name                string              `json:"name"`
	Shorthand           string              `json:"shorthand,omitempty"`
	Usage               string              `json:"usage,omitempty"`
	Type                string              `json:"type"`
	DefValue            string              `json:"defValue,omitempty"`
	NoOptDefVal         string              `json:"noOptDefVal,omitempty"`
	Deprecated          string              `json:"deprecated,omitempty"`
	ShorthandDeprecated string              `json:"shorthandDeprecated,omitempty"`
	Hidden              bool                `json:"hidden,omitempty"`
	Annotations         map[string][]string `json:"annotations,omitempty"`
}

// Capture returns cmd's tree as data. Call it on a freshly built tree, before
// it executes: cobra adds its help and completion commands and its help flags
// at execution, and the rebuilt tree adds its own.
func Capture(cmd *cobra.Command) Command {
	c := Command{
		Use: cmd.Use, Aliases: cmd.Aliases, SuggestFor: cmd.SuggestFor, Short: cmd.Short, Long: cmd.Long,
		Example: cmd.Example, Deprecated: cmd.Deprecated, Hidden: cmd.Hidden, Runnable: cmd.Runnable(),
		DisableFlagsInUseLine: cmd.DisableFlagsInUseLine, ValidArgs: cmd.ValidArgs, Annotations: cmd.Annotations,
		Flags: captureFlags(cmd.LocalNonPersistentFlags()), PersistentFlags: captureFlags(cmd.PersistentFlags()),
	}
	for _, sub := range cmd.Commands() {
		c.Commands = append(c.Commands, Capture(sub))
	}
	return c
}

func captureFlags(fs *pflag.FlagSet) []Flag {
	var out []Flag
	fs.VisitAll(func(f *pflag.Flag) {
		def := f.DefValue
		if !printsDefault(f) {
			def = ""
		}
		out = append(out, Flag{
			Name: f.Name, Shorthand: f.Shorthand, Usage: f.Usage, Type: f.Value.Type(), DefValue: def,
			NoOptDefVal: f.NoOptDefVal, Deprecated: f.Deprecated, ShorthandDeprecated: f.ShorthandDeprecated,
			Hidden: f.Hidden, Annotations: f.Annotations,
		})
	})
	return out
}

// printsDefault reports whether pflag's usage line for f shows "(default …)":
// pflag decides from the value's concrete type, which the rebuilt flag lacks.
func printsDefault(f *pflag.Flag) bool {
	probe := *f
	probe.Usage, probe.Hidden, probe.Deprecated = "", false, ""
	fs := pflag.NewFlagSet("probe", pflag.ContinueOnError)
	fs.AddFlag(&probe)
	return strings.Contains(fs.FlagUsages(), "(default ")
}

// Build rebuilds a command tree from c. Every runnable command runs run; the
// help, version and completion cobra adds work as in the captured program.
func Build(c Command, version string, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use: c.Use, Aliases: c.Aliases, SuggestFor: c.SuggestFor, Short: c.Short, Long: c.Long, Example: c.Example,
		Deprecated: c.Deprecated, Hidden: c.Hidden, DisableFlagsInUseLine: c.DisableFlagsInUseLine,
		ValidArgs: c.ValidArgs, Annotations: c.Annotations, SilenceErrors: true, SilenceUsage: true,
	}
	if c.Runnable {
		cmd.RunE = run
	}
	addFlags(cmd.Flags(), c.Flags)
	addFlags(cmd.PersistentFlags(), c.PersistentFlags)
	for _, sub := range c.Commands {
		cmd.AddCommand(Build(sub, "", run))
	}
	if version != "" {
		cmd.Version = version
	}
	return cmd
}

func addFlags(fs *pflag.FlagSet, flags []Flag) {
	for _, f := range flags {
		var v pflag.Value = &value{typ: f.Type, val: f.DefValue}
		if f.Type == "bool" {
			v = &boolValue{value{typ: f.Type, val: f.DefValue}}
		}
		fs.AddFlag(&pflag.Flag{
			Name: f.Name, Shorthand: f.Shorthand, Usage: f.Usage, Value: v, DefValue: f.DefValue,
			NoOptDefVal: f.NoOptDefVal, Deprecated: f.Deprecated, ShorthandDeprecated: f.ShorthandDeprecated,
			Hidden: f.Hidden, Annotations: f.Annotations,
		})
	}
}

// value is any flag's value in a rebuilt tree: it keeps the type's name (for
// usage lines) and accepts whatever it is given (the full program validates).
type value struct{ typ, val string }

func (v *value) String() string     { return v.val }
func (v *value) Set(s string) error { v.val = s; return nil }
func (v *value) Type() string       { return v.typ }

// boolValue is a bool flag's value: pflag asks IsBoolFlag to allow --flag
// without a value and to read a default of false as no default.
type boolValue struct{ value }

func (*boolValue) IsBoolFlag() bool { return true }

// errRun marks an invocation that runs a command (or fails): the full program
// must answer it.
var errRun = errors.New("clispec: the full program runs this")

// Answer answers args from c without running any command: ok is true when args
// ask only for help, usage, the version or a completion script, and stdout and
// stderr are what the full program would print. Otherwise ok is false and the
// full program must run args (including every error: it classifies them).
func Answer(c Command, version string, args []string) (stdout, stderr []byte, ok bool) {
	if len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		return nil, nil, false // dynamic completion may call into the commands
	}
	root := Build(c, version, func(*cobra.Command, []string) error { return errRun })
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(io.NopCloser(strings.NewReader("")))
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		return nil, nil, false
	}
	return out.Bytes(), errOut.Bytes(), true
}
