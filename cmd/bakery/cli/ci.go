package cli

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
)

// ciLine is one target's outcome, as build and promote report it to a CI
// system, or (Test set) the outcome of one of its suites.
type ciLine struct {
	Target, Outcome, Detail string
	// Test names a suite's result ("test structure linux/amd64"): a line
	// of its own, not a target.
	Test   string
	Failed bool
	// Class is a failure's class (failedTargets sets it).
	Class failure.Class
}

// ciReport is where build and promote tell CI what they did: the GitHub
// Actions job summary (GITHUB_STEP_SUMMARY, Markdown) and --junit FILE, a
// JUnit XML report that GitLab (artifacts:reports:junit), Jenkins and most
// CI systems show per target.
type ciReport struct {
	junit string
}

func (c *ciReport) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.junit, "junit", "", "also write a JUnit XML report, one test case per target (GitLab: artifacts:reports:junit)")
}

// write reports lines under title ("bakery build").
func (c *ciReport) write(title string, lines []ciLine) error {
	if path := env.Getenv(env.GitHubStepSummary); path != "" {
		if err := appendFile(path, markdown(title, lines)); err != nil {
			return failure.New(failure.Internal, env.GitHubStepSummary.String(), err, "")
		}
	}
	if c.junit == "" {
		return nil
	}
	b, err := junit(title, lines)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.junit, b, 0o644); err != nil {
		return failure.New(failure.Config, "--junit", err, "pass a writable file")
	}
	return nil
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}

// markdown is a job summary: a heading and a table, failures marked.
func markdown(title string, lines []ciLine) string {
	var b strings.Builder
	var targets, failed, tests, testsFailed int
	for _, l := range lines {
		switch {
		case l.Test != "":
			tests++
			if l.Failed {
				testsFailed++
			}
		default:
			targets++
			if l.Failed {
				failed++
			}
		}
	}
	fmt.Fprintf(&b, "### %s: %d target(s), %d failed", title, targets, failed)
	if tests > 0 {
		fmt.Fprintf(&b, "; %d test result(s), %d failed", tests, testsFailed)
	}
	b.WriteString("\n\n| target | outcome | details |\n|---|---|---|\n")
	for _, l := range lines {
		outcome := l.Outcome
		if l.Test != "" {
			outcome = l.Test + ": " + outcome
		}
		if l.Failed {
			outcome = "❌ " + outcome
		} else {
			outcome = "✅ " + outcome
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", l.Target, outcome, mdEscape(l.Detail))
	}
	return b.String() + "\n"
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;").Replace(s)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// junit is the JUnit XML of lines: one test case per target.
func junit(title string, lines []ciLine) ([]byte, error) {
	s := junitSuite{Name: title, Tests: len(lines)}
	class := strings.ReplaceAll(title, " ", ".")
	for _, l := range lines {
		c := junitCase{Name: strings.TrimSpace(l.Target + " " + l.Test), ClassName: class, Output: l.Outcome + ": " + l.Detail}
		if l.Failed {
			s.Failures++
			c.Failure = &junitFailure{Message: l.Outcome, Text: l.Detail}
		}
		s.Cases = append(s.Cases, c)
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// testLines are a target's test evidence as CI lines, one per suite,
// platform and environment: its verdict, and the tests that failed as
// the failure's detail.
func testLines(target string, ev []promote.TestEvidence) []ciLine {
	var out []ciLine
	for _, e := range ev {
		test := strings.Join(strings.Fields("test "+e.Suite+" "+e.Platform), " ")
		if e.Environment != "" {
			test += " in " + e.Environment
		}
		detail := "finished " + e.Finished
		if len(e.Failed) > 0 {
			detail = "failed: " + strings.Join(e.Failed, ", ")
		}
		out = append(out, ciLine{Target: target, Test: test, Outcome: e.Result, Detail: detail, Failed: e.Result == string(imagetest.Failed)})
	}
	return out
}

// failedTargets turns a build's joined, classified errors into lines.
func failedTargets(err error) []ciLine {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // errors.Join's list, one level
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []ciLine
	for _, e := range errs {
		subject := "build"
		var fe *failure.Error
		if errors.As(e, &fe) && fe.Subject != "" {
			subject = fe.Subject
		}
		out = append(out, ciLine{Target: subject, Outcome: "failed (" + failure.ClassOf(e).String() + ")", Detail: oneLine(e), Failed: true, Class: failure.ClassOf(e)})
	}
	return out
}
