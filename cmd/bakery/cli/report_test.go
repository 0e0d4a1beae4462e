package cli

import (
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "--out DIR is required"},
		{[]string{"report", "--out", t.TempDir(), "--parallel", "0"}, "--parallel must be at least 1"},
		{[]string{"report", "--out", t.TempDir(), "-o", "yaml"}, `--output: unknown format "yaml"`},
	} {
		_, err := run(t, tc.args...)
		if failure.ClassOf(err).ExitCode() != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: class %v, err %v, want exit 2 and %q", tc.args, failure.ClassOf(err), err, tc.want)
		}
	}
	out, err := run(t, "report", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bakery report --out report/", "--env", "report.json", "exits 4", "fetch nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("report --help lacks %q", want)
		}
	}
}
