package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bakeryhq/bakery/internal/failure"
)

// The JSON contract (docs/json/*.schema.json): every command prints one
// schema, whatever the number of targets; a failed target is an entry with
// its error, class and exit code (failureJSON); fields are camelCase; a
// command that fails with -o json prints errorJSON on stderr.

// failureJSON is a failure as an entry of a command's JSON: the target (or
// what failed), the one-line error, its class and the exit code it maps to.
type failureJSON struct {
	Target   string `json:"target"`
	Error    string `json:"error"`
	Class    string `json:"class"`
	ExitCode int    `json:"exitCode"`
}

// errorJSON is what main prints on stderr when a command run with -o json
// fails.
type errorJSON struct {
	Error    string `json:"error"`
	Class    string `json:"class"`
	ExitCode int    `json:"exitCode"`
}

// WantsJSON reports whether args (the command line without the program
// name) ask for -o json; the last --output wins, as for the flag itself.
// It reads the words, not the parsed flag, so that a command line cobra
// refuses still gets its error in JSON.
func WantsJSON(args []string) bool {
	format := ""
	for i, a := range args {
		if a == "--" {
			break
		}
		switch {
		case a == "-o" || a == "--output":
			if i+1 < len(args) {
				format = args[i+1]
			}
		case strings.HasPrefix(a, "--output="):
			format = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			format = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "=")
		}
	}
	return format == "json"
}

// PrintError prints a command's error on w: as one JSON object (errorJSON)
// when asJSON, else one "error: " line per line of the message.
func PrintError(w io.Writer, err error, asJSON bool) {
	class := failure.ClassOf(err)
	if asJSON {
		_ = writeJSON(w, errorJSON{Error: err.Error(), Class: class.String(), ExitCode: class.ExitCode()})
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "error: "+line)
	}
}

// failureEntries is an entry per target each error of err (a joined error,
// as pipeline.Build returns) names: an error about several targets is an
// entry for each; one about no target names its subject ("build" when it
// has none), as the CI summary does (failedTargets).
func failureEntries(err error) []failureJSON {
	out := []failureJSON{}
	for _, l := range failedTargets(err) {
		for _, t := range subjectTargets(l.Target) {
			out = append(out, failureJSON{Target: t, Error: l.Detail, Class: l.Class.String(), ExitCode: l.Class.ExitCode()})
		}
	}
	return out
}

// subjectTargets is the target names a failure's subject spells (`target
// "web"`, `targets "a", "b"`, as pipeline.Subject writes them), or the
// subject itself when it names none.
func subjectTargets(subject string) []string {
	list, ok := strings.CutPrefix(subject, "targets ")
	if !ok {
		list, ok = strings.CutPrefix(subject, "target ")
	}
	if !ok {
		return []string{subject}
	}
	var names []string
	for _, q := range strings.Split(list, ", ") {
		n, err := strconv.Unquote(q)
		if err != nil {
			return []string{subject}
		}
		names = append(names, n)
	}
	return names
}

// noJSON refuses -o json on a command whose output is no JSON of bakery's.
func (ro *rootOptions) noJSON(cmd string, hint string) error {
	if ro.output == "json" {
		return usageError("%s does not print -o json: %s", cmd, hint)
	}
	return nil
}
