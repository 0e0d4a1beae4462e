package imagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
)

// maxJUnitBytes bounds a JUnit file: it is read whole, to be hashed.
const maxJUnitBytes = 64 << 20

// JUnitRunner is Details.Runner of results parsed from JUnit XML.
const JUnitRunner = "junit"

// junitSuites is <testsuites>; a bare <testsuite> root is read as one.
type junitSuites struct {
	XMLName xml.Name
	Suites  []junitSuite `xml:"testsuite"`
	// Cases of a bare <testsuite> root.
	Cases []junitCase `xml:"testcase"`
	Name  string      `xml:"name,attr"`
}

type junitSuite struct {
	Name   string       `xml:"name,attr"`
	Cases  []junitCase  `xml:"testcase"`
	Nested []junitSuite `xml:"testsuite"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Failures  []junitProblem `xml:"failure"`
	Errors    []junitProblem `xml:"error"`
	Skipped   *junitProblem  `xml:"skipped"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads JUnit XML (<testsuites> or a bare <testsuite>, nested
// suites flattened) of tests that ran elsewhere into a Result for the
// suite named suiteName: a <failure> or <error> FAILS its test, a
// <skipped> one WARNS (it did not pass), every other test PASSED. The
// configuration names the XML by its sha256. Errors are of class
// failure.Config and name the file (when r is an *os.File) and line.
func ParseJUnit(r io.Reader, suiteName string) (Result, error) {
	file := "JUnit XML of suite " + suiteName
	if f, ok := r.(interface{ Name() string }); ok {
		file = f.Name()
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxJUnitBytes+1))
	if err != nil {
		return Result{}, failure.New(failure.Config, file, err, "pass a readable JUnit XML file to --junit")
	}
	if len(raw) > maxJUnitBytes {
		return Result{}, failure.New(failure.Config, file, errors.New("larger than 64 MiB"), "split the JUnit report, one file per suite")
	}
	var doc junitSuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		return Result{}, failure.New(failure.Config, junitSubject(file, err), fmt.Errorf("not JUnit XML: %w", err), "pass the XML report the test runner wrote, such as go-junit-report's or pytest --junitxml's")
	}
	var cases []junitCase
	switch doc.XMLName.Local {
	case "testsuites":
		for _, s := range doc.Suites {
			cases = s.flatten(cases)
		}
	case "testsuite":
		cases = junitSuite{Cases: doc.Cases, Nested: doc.Suites}.flatten(nil)
	default:
		return Result{}, failure.New(failure.Config, file, fmt.Errorf("the root element is <%s>", doc.XMLName.Local), "pass a JUnit report: its root is <testsuites> or <testsuite>")
	}
	if len(cases) == 0 {
		return Result{}, failure.New(failure.Config, file, errors.New("no <testcase> in the report"), "a result needs the tests that ran; check that the runner wrote them")
	}
	sum := sha256.Sum256(raw)
	now := time.Now().UTC()
	res := newResult(&Suite{Name: suiteName, File: file, Digest: "sha256:" + hex.EncodeToString(sum[:])}, "", now)
	res.Bakery.Runner = JUnitRunner
	for _, c := range cases {
		res.record(c.outcome())
	}
	res.finish(now)
	return res, nil
}

// junitSubject is file:line of a syntax error, else the file.
func junitSubject(file string, err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s:%d", file, se.Line)
	}
	return file
}

func (s junitSuite) flatten(into []junitCase) []junitCase {
	into = append(into, s.Cases...)
	for _, n := range s.Nested {
		into = n.flatten(into)
	}
	return into
}

// outcome names the test classname.name, as JUnit reports show it.
func (c junitCase) outcome() outcome {
	name := c.Name
	if c.Classname != "" {
		name = c.Classname + "." + c.Name
	}
	o := outcome{name: name, verdict: Passed}
	for _, p := range append(c.Failures, c.Errors...) {
		o.fail("%s", p.reason())
	}
	if c.Skipped != nil && o.verdict == Passed {
		o.warn("skipped: %s", c.Skipped.reason())
	}
	return o
}

// reason is the problem's message, else the first line of its text.
func (p junitProblem) reason() string {
	if p.Message != "" {
		return p.Message
	}
	line, _, _ := strings.Cut(strings.TrimSpace(p.Text), "\n")
	switch {
	case line != "":
		return line
	case p.Type != "":
		return p.Type
	}
	return "no message"
}
