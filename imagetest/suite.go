// Package imagetest tests an image before it moves: it reads test suites in
// container-structure-test's schemaVersion 2.0.0 format, checks an image's
// metadata and flattened filesystem without any engine, runs command tests
// through a Runner (BuildKit's gateway in production), and records the
// outcome as an in-toto test-result predicate bound, by the caller's
// statement, to the digest that was tested. It parses JUnit XML for tests
// that ran elsewhere into the same predicate.
//
// The package does no I/O of its own beyond reading the suite file and the
// image it is given: starting containers is the Runner's job, and signing
// and attaching the result is attest's.
package imagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/internal/failure"
)

// SchemaVersion is the one container-structure-test schema bakery reads.
const SchemaVersion = "2.0.0"

// The defaults of bakery's own per-suite settings.
const (
	// DefaultTimeout limits each test: its setup commands and its command.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxOutput caps each captured stream of a command and the
	// content a file content test reads, in bytes.
	DefaultMaxOutput = 1 << 20
)

// Suite is one test suite: container-structure-test's schemaVersion 2.0.0
// tests, plus bakery's settings (Timeout, Network, MaxOutput). Load fills
// the settings' defaults and Name, File and Digest.
type Suite struct {
	SchemaVersion      string              `yaml:"schemaVersion"`
	GlobalEnvVars      []EnvVar            `yaml:"globalEnvVars"`
	CommandTests       []CommandTest       `yaml:"commandTests"`
	FileExistenceTests []FileExistenceTest `yaml:"fileExistenceTests"`
	FileContentTests   []FileContentTest   `yaml:"fileContentTests"`
	MetadataTest       *MetadataTest       `yaml:"metadataTest"`

	// Timeout limits each test (its setup and command; teardown gets its
	// own Timeout). A test that reaches it FAILS.
	Timeout time.Duration `yaml:"timeout"`
	// Network gives command tests a network; off unless the suite asks.
	Network bool `yaml:"network"`
	// MaxOutput caps each captured stream and each file content read, in
	// bytes; output beyond it FAILS the test, as it cannot be checked.
	MaxOutput int64 `yaml:"maxOutput"`

	// Name names the suite in results: the file's base name without its
	// extension unless the caller (bakery.yaml's tests:) names it.
	Name string `yaml:"-"`
	// File is the path the suite was loaded from.
	File string `yaml:"-"`
	// Digest is "sha256:<hex>" of the file's bytes: the result names the
	// suite by it, so a result says exactly which tests ran.
	Digest string `yaml:"-"`
}

// EnvVar is an environment variable a command test sets or a metadata test
// expects; with IsRegex, Value is a regular expression (metadata only).
type EnvVar struct {
	Key     string `yaml:"key"`
	Value   string `yaml:"value"`
	IsRegex bool   `yaml:"isRegex"`
}

// Label is an image label a metadata test expects.
type Label struct {
	Key     string `yaml:"key"`
	Value   string `yaml:"value"`
	IsRegex bool   `yaml:"isRegex"`
}

// CommandTest runs Command with Args in a fresh container of the image,
// after Setup and before Teardown, and matches its output and exit code.
// Expected/excluded outputs and errors are regular expressions matched
// against stdout and stderr.
type CommandTest struct {
	Name           string     `yaml:"name"`
	Setup          [][]string `yaml:"setup"`
	Teardown       [][]string `yaml:"teardown"`
	Command        string     `yaml:"command"`
	Args           []string   `yaml:"args"`
	EnvVars        []EnvVar   `yaml:"envVars"`
	ExpectedOutput []string   `yaml:"expectedOutput"`
	ExcludedOutput []string   `yaml:"excludedOutput"`
	ExpectedError  []string   `yaml:"expectedError"`
	ExcludedError  []string   `yaml:"excludedError"`
	ExitCode       int        `yaml:"exitCode"`
}

// FileExistenceTest checks that Path exists (or, with shouldExist: false,
// that it does not) and, when given, its permissions ("-rwxr-xr-x"), owner
// and executable bits. Symbolic links are followed, as stat in a container
// would.
type FileExistenceTest struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// ShouldExist defaults to true, as in container-structure-test.
	ShouldExist *bool  `yaml:"shouldExist"`
	Permissions string `yaml:"permissions"`
	// Uid and Gid are checked when set.
	Uid *int `yaml:"uid"` //nolint:revive // the schema's spelling
	Gid *int `yaml:"gid"` //nolint:revive // the schema's spelling
	// IsExecutableBy is one of any, owner, group, other.
	IsExecutableBy string `yaml:"isExecutableBy"`
}

// FileContentTest matches the content of the file at Path (links
// followed) against regular expressions.
type FileContentTest struct {
	Name             string   `yaml:"name"`
	Path             string   `yaml:"path"`
	ExpectedContents []string `yaml:"expectedContents"`
	ExcludedContents []string `yaml:"excludedContents"`
}

// MetadataTest checks the image configuration. A nil Entrypoint or Cmd is
// not checked; an empty one must be empty.
type MetadataTest struct {
	EnvVars          []EnvVar  `yaml:"envVars"`
	Entrypoint       *[]string `yaml:"entrypoint"`
	Cmd              *[]string `yaml:"cmd"`
	Workdir          string    `yaml:"workdir"`
	User             string    `yaml:"user"`
	ExposedPorts     []string  `yaml:"exposedPorts"`
	UnexposedPorts   []string  `yaml:"unexposedPorts"`
	Labels           []Label   `yaml:"labels"`
	Volumes          []string  `yaml:"volumes"`
	UnmountedVolumes []string  `yaml:"unmountedVolumes"`
}

// MetadataTestName names the metadata test in results.
const MetadataTestName = "metadata"

// maxSuiteBytes bounds a suite file: suites are small, and a huge file is
// a mistake or an attack on the parser.
const maxSuiteBytes = 4 << 20

// Load reads and validates the suite at path. Every error is of class
// failure.Config and names file:line, the key and what to do; all the
// file's problems are reported at once.
func Load(path string) (*Suite, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, failure.New(failure.Config, path, err, "check the suite's path in bakery.yaml's tests:")
	}
	s, err := Parse(path, raw)
	if err != nil {
		return nil, err
	}
	s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return s, nil
}

// Parse decodes and validates a suite's bytes; file names it in errors.
func Parse(file string, raw []byte) (*Suite, error) {
	if len(raw) > maxSuiteBytes {
		return nil, failure.New(failure.Config, file, fmt.Errorf("%d bytes is too large for a suite", len(raw)), "split the suite; a suite file may hold at most 4 MiB")
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, failure.New(failure.Config, file, err, "fix the YAML syntax")
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, failure.New(failure.Config, file, errors.New("not a suite"), "start with `schemaVersion: 2.0.0` and a list such as commandTests:")
	}
	p := &problems{file: file, lines: map[string]int{}}
	p.walk(root.Content[0], reflect.TypeFor[Suite](), "")
	s := &Suite{}
	if err := root.Content[0].Decode(s); err != nil {
		p.decodeError(err)
	}
	s.validate(p)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	sum := sha256.Sum256(raw)
	s.File, s.Digest = file, "sha256:"+hex.EncodeToString(sum[:])
	s.applyDefaults()
	return s, nil
}

func (s *Suite) applyDefaults() {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxOutput == 0 {
		s.MaxOutput = DefaultMaxOutput
	}
}

// problems collects every problem of a suite file, each at its file:line.
type problems struct {
	file string
	// lines maps each key path (commandTests[0].args) to its line.
	lines map[string]int
	errs  []error
}

// at returns file:line of path, or of its nearest parent with a line.
func (p *problems) at(path string) string {
	for {
		if l, ok := p.lines[path]; ok {
			return fmt.Sprintf("%s:%d", p.file, l)
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p.file
		}
		path = path[:i]
	}
}

func (p *problems) add(path, hint, format string, args ...any) {
	p.errs = append(p.errs, failure.New(failure.Config, p.at(path),
		fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)), hint))
}

// walk records the line of every key and reports keys the schema lacks.
// The decoder reports wrong types; walk only follows what matches.
func (p *problems) walk(n *yaml.Node, t reflect.Type, path string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			p.lines[at] = item.Line
			p.walk(item, t.Elem(), at)
		}
		return
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
		return
	}
	keys := yamlKeys(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		at := k.Value
		if path != "" {
			at = path + "." + k.Value
		}
		p.lines[at] = k.Line
		ft, ok := keys[k.Value]
		if !ok {
			p.add(at, unknownKeyHint(k.Value, keys), "unknown key")
			continue
		}
		p.walk(n.Content[i+1], ft, at)
	}
}

// yamlKeys maps each YAML key of struct type t to its field's type.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys[name] = f.Type
		}
	}
	return keys
}

// unsupported are container-structure-test keys bakery does not run.
var unsupported = map[string]string{
	"licenseTests":        "bakery does not run licenseTests; check licenses with the SBOM policies",
	"containerRunOptions": "bakery sets the container's options itself; use network: true for a network",
	"env":                 "schemaVersion 2.0.0 spells it envVars",
}

func unknownKeyHint(key string, keys map[string]reflect.Type) string {
	if hint, ok := unsupported[key]; ok {
		return hint
	}
	return "expected one of: " + strings.Join(slices.Sorted(maps.Keys(keys)), ", ")
}

// lineMessage is how yaml.v3 starts each type error: "line N: ...".
var lineMessage = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeError turns the decoder's type errors into problems at their lines.
func (p *problems) decodeError(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.errs = append(p.errs, failure.New(failure.Config, p.file, err, "fix the YAML"))
		return
	}
	const hint = "give the key the type the schema has: a duration such as 30s, a number, true or false, a list"
	for _, msg := range te.Errors {
		subject := p.file
		if m := lineMessage.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			subject, msg = fmt.Sprintf("%s:%d", p.file, n), m[2]
		}
		p.errs = append(p.errs, failure.New(failure.Config, subject, errors.New(msg), hint))
	}
}

// validate reports every problem the decoder cannot see.
func (s *Suite) validate(p *problems) {
	if s.SchemaVersion != SchemaVersion {
		p.add("schemaVersion", "set `schemaVersion: 2.0.0` (quoted or not)", "%q is not supported", s.SchemaVersion)
	}
	if s.Timeout < 0 {
		p.add("timeout", "use a positive duration such as 30s or 2m, or leave it out for 60s", "%s is negative", s.Timeout)
	}
	if s.MaxOutput < 0 {
		p.add("maxOutput", "use a number of bytes, or leave it out for 1 MiB", "%d is negative", s.MaxOutput)
	}
	if len(s.CommandTests)+len(s.FileExistenceTests)+len(s.FileContentTests) == 0 && s.MetadataTest == nil {
		p.add("schemaVersion", "add commandTests, fileExistenceTests, fileContentTests or metadataTest", "the suite has no tests")
	}
	names := map[string]string{}
	for i, t := range s.CommandTests {
		path := fmt.Sprintf("commandTests[%d]", i)
		p.name(names, path, t.Name)
		t.validate(p, path)
	}
	for i, t := range s.FileExistenceTests {
		path := fmt.Sprintf("fileExistenceTests[%d]", i)
		p.name(names, path, t.Name)
		p.filePath(path, t.Path)
		if t.IsExecutableBy != "" && !slices.Contains([]string{"any", "owner", "group", "other"}, t.IsExecutableBy) {
			p.add(path+".isExecutableBy", "use any, owner, group or other", "%q is not a class of user", t.IsExecutableBy)
		}
		if t.Permissions != "" && !permissions.MatchString(t.Permissions) {
			p.add(path+".permissions", "write the mode as ls -l shows it, such as -rwxr-xr-x or drwxr-xr-x", "%q is not a mode", t.Permissions)
		}
	}
	for i, t := range s.FileContentTests {
		path := fmt.Sprintf("fileContentTests[%d]", i)
		p.name(names, path, t.Name)
		p.filePath(path, t.Path)
		p.patterns(path+".expectedContents", t.ExpectedContents)
		p.patterns(path+".excludedContents", t.ExcludedContents)
	}
	if s.MetadataTest != nil {
		s.MetadataTest.validate(p)
	}
	p.envVars("globalEnvVars", s.GlobalEnvVars, false)
}

// permissions is a mode as Go's fs.FileMode.String writes it.
var permissions = regexp.MustCompile(`^[dalTLDpSugct?-]*[r-][w-][xsS-][r-][w-][xsS-][r-][w-][xtT-]$`)

func (t *CommandTest) validate(p *problems, path string) {
	if t.Command == "" {
		p.add(path+".command", "name the program to run, such as /bin/sh, and its arguments in args", "required")
	}
	for j, c := range t.Setup {
		if len(c) == 0 {
			p.add(fmt.Sprintf("%s.setup[%d]", path, j), "remove the empty command or give it a program", "empty command")
		}
	}
	for j, c := range t.Teardown {
		if len(c) == 0 {
			p.add(fmt.Sprintf("%s.teardown[%d]", path, j), "remove the empty command or give it a program", "empty command")
		}
	}
	if t.ExitCode < 0 || t.ExitCode > 255 {
		p.add(path+".exitCode", "an exit code is 0 to 255", "%d is out of range", t.ExitCode)
	}
	p.envVars(path+".envVars", t.EnvVars, false)
	p.patterns(path+".expectedOutput", t.ExpectedOutput)
	p.patterns(path+".excludedOutput", t.ExcludedOutput)
	p.patterns(path+".expectedError", t.ExpectedError)
	p.patterns(path+".excludedError", t.ExcludedError)
}

func (m *MetadataTest) validate(p *problems) {
	p.envVars("metadataTest.envVars", m.EnvVars, true)
	for i, l := range m.Labels {
		path := fmt.Sprintf("metadataTest.labels[%d]", i)
		if l.Key == "" {
			p.add(path+".key", "name the label", "required")
		}
		if l.IsRegex {
			p.pattern(path+".value", l.Value)
		}
	}
	for key, list := range map[string][]string{"exposedPorts": m.ExposedPorts, "unexposedPorts": m.UnexposedPorts, "volumes": m.Volumes, "unmountedVolumes": m.UnmountedVolumes} {
		for i, v := range list {
			if v == "" {
				p.add(fmt.Sprintf("metadataTest.%s[%d]", key, i), "remove the empty entry", "empty")
			}
		}
	}
}

// name reports a missing or repeated test name: results list tests by name.
func (p *problems) name(seen map[string]string, path, name string) {
	switch {
	case name == "":
		p.add(path+".name", "name every test: results list tests by name", "required")
	case name == MetadataTestName:
		p.add(path+".name", "rename the test", "%q is the metadata test's name", name)
	case seen[name] != "":
		p.add(path+".name", "names must be unique in a suite, as results list tests by name", "%q is also the name of %s", name, seen[name])
	default:
		seen[name] = path
	}
}

func (p *problems) filePath(path, file string) {
	if !strings.HasPrefix(file, "/") && !strings.HasPrefix(file, "$") {
		p.add(path+".path", "use an absolute path in the image, such as /etc/passwd", "%q is not absolute", file)
	}
}

func (p *problems) patterns(path string, list []string) {
	for i, expr := range list {
		p.pattern(fmt.Sprintf("%s[%d]", path, i), expr)
	}
}

func (p *problems) pattern(path, expr string) {
	if _, err := regexp.Compile(expr); err != nil {
		p.add(path, "fix the regular expression (Go RE2 syntax; escape a literal character such as \\( or \\.)", "%v", err)
	}
}

func (p *problems) envVars(path string, vars []EnvVar, regex bool) {
	for i, v := range vars {
		at := fmt.Sprintf("%s[%d]", path, i)
		if v.Key == "" {
			p.add(at+".key", "name the variable", "required")
		}
		if v.IsRegex && !regex {
			p.add(at+".isRegex", "isRegex applies to metadataTest.envVars only; remove it", "not allowed here")
		} else if v.IsRegex {
			p.pattern(at+".value", v.Value)
		}
	}
}
