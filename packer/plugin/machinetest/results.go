package machinetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/bakeryhq/bakery/imagetest"
)

// Output is where bakery-test writes the result of suite in build, in
// Packer's working directory; the bakery post-processor reads the same name.
func Output(buildName, suite string) string {
	return "bakery-test-" + buildName + "-" + suite + ".json"
}

// resultFile is what bakery-test writes: the result (the test-result
// predicate bakery signs) and the packer run (PACKER_RUN_UUID) that made
// it, so that a leftover of another run is never taken for this one's.
type resultFile struct {
	PackerRunUUID string           `json:"packerRunUUID"`
	Result        imagetest.Result `json:"result"`
}

// writeResult writes r for run at path through a rename, so that a reader
// sees all of it or nothing.
func writeResult(path, run string, r imagetest.Result) error {
	data, err := json.MarshalIndent(resultFile{PackerRunUUID: run, Result: r}, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Results reads the results bakery-test wrote in run for build's suites,
// skipping a suite it did not run in this run (no file, or another run's).
// ErrNoResults means none of the suites has a result of this run.
func Results(buildName string, suites []string, run string) ([]imagetest.Result, error) {
	var out []imagetest.Result
	var stale []string
	for _, s := range suites {
		path := Output(buildName, s)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var f resultFile
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if run != "" && f.PackerRunUUID != run {
			stale = append(stale, path)
			continue
		}
		if f.Result.Bakery.Suite != s {
			return nil, fmt.Errorf("%s holds the result of suite %q, not %q", path, f.Result.Bakery.Suite, s)
		}
		out = append(out, f.Result)
	}
	if len(out) == 0 {
		err := ErrNoResults
		if len(stale) > 0 {
			err = fmt.Errorf("%w (left over from another packer run: %s)", err, strings.Join(stale, ", "))
		}
		return nil, err
	}
	return out, nil
}

// ErrNoResults is Results' error when bakery-test wrote no result in this
// run: the template lacks the provisioner.
var ErrNoResults = errors.New("no bakery-test result of this packer run")
