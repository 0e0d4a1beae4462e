package imagetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

const junitSample = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="smoke" tests="4">
    <testcase classname="api" name="health"/>
    <testcase classname="api" name="login">
      <failure message="expected 200, got 500" type="AssertionError">trace...</failure>
    </testcase>
    <testcase name="flaky"><skipped message="quarantined"/></testcase>
    <testsuite name="nested">
      <testcase name="db"><error>connection refused
at line 3</error></testcase>
    </testsuite>
  </testsuite>
</testsuites>`

func TestParseJUnit(t *testing.T) {
	r, err := ParseJUnit(strings.NewReader(junitSample), "smoke")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, map[string]string{
		"api.health": "PASSED",
		"api.login":  "FAILED: expected 200, got 500",
		"flaky":      "WARNED: skipped: quarantined",
		"db":         "FAILED: connection refused",
	})
	if r.Result != Failed || r.Bakery.Runner != JUnitRunner || r.Bakery.Suite != "smoke" || len(r.Configuration[0].Digest["sha256"]) != 64 {
		t.Errorf("%+v", r)
	}
}

func TestParseJUnitBareSuite(t *testing.T) {
	r, err := ParseJUnit(strings.NewReader(`<testsuite name="x"><testcase name="a"/><testcase name="b"><skipped/></testcase></testsuite>`), "x")
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != Warned || len(r.PassedTests) != 1 || len(r.WarnedTests) != 1 {
		t.Errorf("%+v", r)
	}
}

func TestParseJUnitRejects(t *testing.T) {
	for _, tc := range []struct{ name, xml, want string }{
		{"malformed", "<testsuites>\n<testsuite>\n<testcase name='a'>\n</testsuites>", "report.xml:4: not JUnit XML"},
		{"not junit", "<html/>", "report.xml: the root element is <html>"},
		{"no cases", "<testsuites><testsuite name='a'/></testsuites>", "report.xml: no <testcase>"},
		{"empty", "", "report.xml: not JUnit XML: EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "report.xml")
			if err := os.WriteFile(p, []byte(tc.xml), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = ParseJUnit(f, "smoke")
			if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
