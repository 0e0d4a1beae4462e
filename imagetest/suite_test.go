package imagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
)

const fullSuite = `schemaVersion: "2.0.0"
timeout: 5s
network: true
maxOutput: 4096
globalEnvVars:
  - {key: GREETING, value: hello}
commandTests:
  - name: shell
    setup: [["touch", "/tmp/x"]]
    teardown: [["rm", "/tmp/x"]]
    command: /bin/sh
    args: ["-c", "echo $GREETING"]
    envVars: [{key: NAME, value: world}]
    expectedOutput: ["hel+o"]
    excludedOutput: ["panic"]
    expectedError: []
    excludedError: ["error"]
    exitCode: 0
fileExistenceTests:
  - name: passwd
    path: /etc/passwd
    shouldExist: true
    permissions: -rw-r--r--
    uid: 0
    gid: 0
    isExecutableBy: ""
fileContentTests:
  - name: os-release
    path: /etc/os-release
    expectedContents: ["ID=debian"]
    excludedContents: ["ID=alpine"]
metadataTest:
  envVars: [{key: PATH, value: "/usr/.*", isRegex: true}]
  entrypoint: []
  cmd: ["/app"]
  workdir: /srv
  user: "1000"
  exposedPorts: ["8080"]
  unexposedPorts: ["22"]
  labels: [{key: org.opencontainers.image.source, value: "https://.*", isRegex: true}]
  volumes: ["/data"]
`

func writeSuite(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smoke.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadReadsEveryKey(t *testing.T) {
	p := writeSuite(t, fullSuite)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(fullSuite))
	if s.Name != "smoke" || s.File != p || s.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("name %q file %q digest %q", s.Name, s.File, s.Digest)
	}
	if s.Timeout != 5*time.Second || !s.Network || s.MaxOutput != 4096 {
		t.Errorf("settings: %v %v %v", s.Timeout, s.Network, s.MaxOutput)
	}
	c := s.CommandTests[0]
	if c.Command != "/bin/sh" || len(c.Setup) != 1 || c.Setup[0][0] != "touch" || c.EnvVars[0].Value != "world" {
		t.Errorf("command test: %+v", c)
	}
	f := s.FileExistenceTests[0]
	if f.ShouldExist == nil || !*f.ShouldExist || f.Uid == nil || *f.Uid != 0 || f.Permissions != "-rw-r--r--" {
		t.Errorf("file existence test: %+v", f)
	}
	m := s.MetadataTest
	if m == nil || m.Entrypoint == nil || len(*m.Entrypoint) != 0 || (*m.Cmd)[0] != "/app" || !m.Labels[0].IsRegex {
		t.Errorf("metadata test: %+v", m)
	}
}

func TestLoadDefaults(t *testing.T) {
	s, err := Load(writeSuite(t, "schemaVersion: 2.0.0\nfileExistenceTests:\n  - {name: a, path: /a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timeout != DefaultTimeout || s.Network || s.MaxOutput != DefaultMaxOutput {
		t.Errorf("defaults: %v %v %v", s.Timeout, s.Network, s.MaxOutput)
	}
	if f := s.FileExistenceTests[0]; f.ShouldExist != nil || f.Uid != nil || f.Gid != nil {
		t.Errorf("unset keys must stay unset (shouldExist defaults to true, owners unchecked): %+v", f)
	}
}

// TestLoadRejects: each bad suite is a config error at its file:line that
// says what is wrong and what to do.
func TestLoadRejects(t *testing.T) {
	const head = "schemaVersion: 2.0.0\n"
	for _, tc := range []struct {
		name, body string
		want       []string // substrings of the message, after "smoke.yaml:"
	}{
		{"unknown top key", head + "comandTests: []\n", []string{"yaml:2: comandTests: unknown key (expected one of: commandTests,"}},
		{"unknown nested key", head + "commandTests:\n  - name: a\n    command: x\n    expectOutput: [a]\n", []string{"yaml:5: commandTests[0].expectOutput: unknown key", "expectedOutput"}},
		{"license tests", head + "licenseTests: []\n", []string{"yaml:2: licenseTests: unknown key (bakery does not run licenseTests"}},
		{"old env spelling", head + "metadataTest:\n  env: []\n", []string{"yaml:3: metadataTest.env: unknown key (schemaVersion 2.0.0 spells it envVars)"}},
		{"wrong version", "schemaVersion: 1.0.0\nmetadataTest: {}\n", []string{"yaml:1: schemaVersion: \"1.0.0\" is not supported"}},
		{"no version", "metadataTest: {workdir: /}\n", []string{"smoke.yaml: schemaVersion: \"\" is not supported"}},
		{"bad regex", head + "commandTests:\n  - name: a\n    command: x\n    expectedOutput: [ok, \"(unclosed\"]\n", []string{"yaml:5: commandTests[0].expectedOutput[1]: error parsing regexp: missing closing )", "RE2"}},
		{"bad label regex", head + "metadataTest:\n  labels:\n    - key: a\n      value: \"[\"\n      isRegex: true\n", []string{"yaml:5: metadataTest.labels[0].value: error parsing regexp"}},
		{"bad duration", head + "metadataTest: {}\ntimeout: ten\n", []string{"yaml:3: cannot unmarshal", "time.Duration", "such as 30s"}},
		{"negative duration", head + "metadataTest: {}\ntimeout: -1s\n", []string{"yaml:3: timeout: -1s is negative"}},
		{"wrong type", head + "commandTests:\n  - name: a\n    command: x\n    exitCode: zero\n", []string{"yaml:5: cannot unmarshal !!str `zero` into int"}},
		{"no name", head + "fileExistenceTests:\n  - path: /a\n", []string{"yaml:3: fileExistenceTests[0].name: required (name every test"}},
		{"duplicate name", head + "fileExistenceTests:\n  - {name: a, path: /a}\nfileContentTests:\n  - {name: a, path: /a}\n", []string{"yaml:5: fileContentTests[0].name: \"a\" is also the name of fileExistenceTests[0]"}},
		{"relative path", head + "fileContentTests:\n  - {name: a, path: etc/passwd}\n", []string{"yaml:3: fileContentTests[0].path: \"etc/passwd\" is not absolute"}},
		{"no command", head + "commandTests:\n  - name: a\n", []string{"yaml:3: commandTests[0].command: required"}},
		{"empty setup", head + "commandTests:\n  - name: a\n    command: x\n    setup: [[]]\n", []string{"yaml:5: commandTests[0].setup[0]: empty command"}},
		{"bad permissions", head + "fileExistenceTests:\n  - {name: a, path: /a, permissions: \"755\"}\n", []string{"yaml:3: fileExistenceTests[0].permissions: \"755\" is not a mode"}},
		{"bad executable class", head + "fileExistenceTests:\n  - {name: a, path: /a, isExecutableBy: everyone}\n", []string{"isExecutableBy: \"everyone\" is not a class of user"}},
		{"no tests", head, []string{"the suite has no tests"}},
		{"not a mapping", "- a\n", []string{"smoke.yaml: not a suite"}},
		{"bad yaml", "schemaVersion: [\n", []string{"smoke.yaml: yaml: line", "fix the YAML syntax"}},
		{"two problems at once", "schemaVersion: 3\nbogus: 1\n", []string{"yaml:1: schemaVersion: \"3\"", "yaml:2: bogus: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeSuite(t, tc.body))
			if err == nil {
				t.Fatal("loaded")
			}
			if c := failure.ClassOf(err); c != failure.Config {
				t.Errorf("class %v, want config", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("got %v", err)
	}
}

// FuzzLoadSuite feeds the suite parser arbitrary bytes: it returns a
// suite or a config error, never panics.
func FuzzLoadSuite(f *testing.F) {
	f.Add([]byte(fullSuite))
	f.Add([]byte("schemaVersion: 2.0.0\nfileExistenceTests:\n  - {name: a, path: /a}\n"))
	f.Add([]byte("schemaVersion: [\n"))
	f.Add([]byte("schemaVersion: 2.0.0\ncommandTests: [{name: a, command: x, expectedOutput: ['(']}]\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Parse("suite.yaml", raw)
		if err != nil {
			if failure.ClassOf(err) != failure.Config {
				t.Fatalf("error of class %v: %v", failure.ClassOf(err), err)
			}
			return
		}
		if s.Timeout <= 0 || s.MaxOutput <= 0 || !strings.HasPrefix(s.Digest, "sha256:") {
			t.Fatalf("loaded suite without defaults: %+v", s)
		}
	})
}
