// Package cli holds bakery's cobra commands. Each command validates its
// options, constructs the library pieces, calls them and prints the result;
// the work itself lives in pipeline, packer, promote and the packages below
// them. One file per noun.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
)

// rootOptions are the flags every command shares.
type rootOptions struct {
	configFile string
	output     string
	version    string
	// release cancels the command's deadline, once it is set.
	release context.CancelFunc
	// cpuProfile is where --cpuprofile writes (hidden: for BENCHMARKS.md).
	cpuProfile string
	// memProfile is where --memprofile writes the allocation profile.
	memProfile string
	// actor is --actor: who runs bakery, for receipts and revocations.
	actor string
	// keys is --key: the trusted public keys, instead of verification.keys.
	keys []string
}

// addKeyFlag defines --key on a command that verifies with the config's
// trusted keys: given, it replaces verification.keys.
func addKeyFlag(cmd *cobra.Command, ro *rootOptions) {
	cmd.Flags().StringArrayVar(&ro.keys, "key", nil, "trusted public key file or KMS URI, instead of verification.keys (repeatable)")
}

// addActorFlag defines --actor on a command that records who ran it.
func addActorFlag(cmd *cobra.Command, ro *rootOptions) {
	cmd.Flags().StringVar(&ro.actor, "actor", "", "who runs this, recorded in receipts and revocations (default: $GITHUB_ACTOR or $GITLAB_USER_LOGIN with the run's URL, else the local user)")
}

// startProfile starts the CPU profile --cpuprofile asks for.
func (ro *rootOptions) startProfile() error {
	if ro.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(ro.cpuProfile)
	if err != nil {
		return failure.New(failure.Config, "--cpuprofile "+ro.cpuProfile, err, "pass a writable path")
	}
	return pprof.StartCPUProfile(f)
}

// stopProfile ends the CPU profile and writes the allocation profile
// --memprofile asks for.
func (ro *rootOptions) stopProfile() {
	pprof.StopCPUProfile()
	if ro.memProfile == "" {
		return
	}
	if f, err := os.Create(ro.memProfile); err == nil {
		runtime.GC() // the profile is as of the last collection
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		_ = f.Close()
	}
}

// New returns the bakery command tree.
func New(version string) *cobra.Command {
	ro := &rootOptions{version: version}
	root := &cobra.Command{
		Use:   "bakery",
		Short: "Bake golden images, attest them, and promote them by digest",
		Long: `bakery bakes golden images (containers on BuildKit, machine images through
Packer), attaches SBOMs, provenance and signatures, and promotes the same
digest from one environment to the next when policy allows.

Settings come from bakery.yaml (or --config), overridden by BAKERY_*
environment variables, overridden by flags.

Exit codes: 1 internal, 2 config or usage, 3 build failed, 4 verification
failed, 5 policy denied, 6 registry or buildkitd unavailable, 7 a concurrent
promotion into the same environment won (re-run to decide).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&ro.configFile, "config", "c", "", "config file (default ./bakery.yaml, or $BAKERY_CONFIG)")
	pf.StringVarP(&ro.output, "output", "o", "text", "output format: text, wide (text with full digests, RFC 3339 times and every column) or json")
	pf.StringVar(&ro.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the command to this file (for `go tool pprof`)")
	_ = pf.MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		cmd.SetContext(receipt.WithActor(cmd.Context(), env.Actor(ro.actor)))
		return ro.startProfile()
	}
	pf.StringVar(&ro.memProfile, "memprofile", "", "write a Go allocation profile of the command to this file (for `go tool pprof`)")
	_ = pf.MarkHidden("memprofile")
	root.PersistentPostRun = func(*cobra.Command, []string) { ro.stopProfile() }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return failure.New(failure.Config, "usage", err, "see --help")
	})

	root.AddCommand(newBuild(ro), newVerify(ro), newSBOM(ro), newInspect(ro), newKeys(ro),
		newPromote(ro), newRollback(ro), newHistory(ro), newStatus(ro), newPolicy(ro), newRevoke(ro), newGC(ro))
	root.AddCommand(newFind(ro), newDrift(ro), newOutdated(ro), newDiff(ro), newExport(ro), newImport(ro), newReport(ro))
	root.AddCommand(newVersion(ro), newRebuild(ro), newInit(ro), newTest(ro))
	root.AddCommand(newScan(ro), newRescan(ro), newDB(ro), newAdmission(ro))
	return root
}

// Execute runs the command tree. Usage errors cobra makes itself (an unknown
// command) become one-line config-class errors (exit 2) with a hint.
func Execute(ctx context.Context, version string) error {
	root := New(version)
	err := root.ExecuteContext(ctx)
	var classified *failure.Error
	if err == nil || errors.As(err, &classified) {
		return err
	}
	if msg, ok := strings.CutPrefix(err.Error(), "unknown command "); ok {
		first, _, _ := strings.Cut(msg, " ")
		hint := "see bakery --help"
		if s := root.SuggestionsFor(strings.Trim(first, `"`)); len(s) > 0 {
			hint = "did you mean " + strings.Join(s, " or ") + "? " + hint
		}
		return failure.New(failure.Config, "usage", fmt.Errorf("unknown command %s", first), hint)
	}
	return err
}

// load reads the config with the command's flags as overrides, and carries
// its registry settings in the command's context: every registry call made
// from cmd.Context() from then on uses them.
func (ro *rootOptions) load(cmd *cobra.Command) (*config.Config, error) {
	cfg, err := config.Load(config.Options{File: ro.configFile, Flags: cmd.Flags()})
	if err != nil {
		return nil, err
	}
	if len(ro.keys) > 0 {
		cfg.Verification.Keys = ro.keys
	}
	cmd.SetContext(cfg.Context(cmd.Context()))
	return cfg, nil
}

// bound gives the command registry.timeout in all: a registry that stalls is
// given up on (exit 6). ro.release keeps the cancel func; the deadline's timer
// ends with the process.
func (ro *rootOptions) bound(cmd *cobra.Command, cfg *config.Config) context.Context {
	ctx := cmd.Context()
	if _, _, timeout := cfg.Registry.Durations(); timeout > 0 {
		ctx, ro.release = context.WithTimeout(ctx, timeout)
		cmd.SetContext(ctx)
	}
	return ctx
}

// validate checks the shared options.
func (ro *rootOptions) validate() error {
	if !slices.Contains([]string{"text", "wide", "json"}, ro.output) {
		return failure.New(failure.Config, "--output", fmt.Errorf("unknown format %q", ro.output), "use text, wide or json")
	}
	return nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanSize renders a byte count the way registries' UIs do.
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2) that shows the
// command's usage line.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return usageError("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
	}
}

func usageError(format string, args ...any) error {
	return failure.New(failure.Config, "usage", fmt.Errorf(format, args...), "see --help")
}
