package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/bundle"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/schemacheck"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
)

// repoRoot is the repository root, where docs/json is.
const repoRoot = "../../.."

// validate checks v, marshalled as writeJSON prints it, against the
// command's schema and returns it decoded.
func validate(t *testing.T, schema string, v any) map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	if err := schemacheck.Validate(repoRoot, schema, b.Bytes()); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	var out map[string]any
	_ = json.Unmarshal(b.Bytes(), &out)
	return out
}

// refusesJSON are the commands that refuse -o json with a usage error.
var refusesJSON = map[string]bool{"sbom": true, "init": true}

// TestEveryCommandHasASchema walks the command tree: every command that runs
// has a schema in docs/json (or refuses -o json), every schema there is a
// command's (or the error's), and each compiles as draft 2020-12.
func TestEveryCommandHasASchema(t *testing.T) {
	names, err := schemacheck.Names(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	unused := map[string]bool{}
	for _, n := range names {
		unused[n] = n != "error"
		if err := schemacheck.Validate(repoRoot, n, []byte("null")); err != nil && strings.HasPrefix(err.Error(), "schema ") {
			t.Errorf("%s.schema.json does not compile: %v", n, err)
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden || c.Name() == "help" || c == c.Root() {
			return
		}
		name := schemacheck.Name(strings.TrimPrefix(c.CommandPath(), "bakery "))
		if refusesJSON[name] {
			return
		}
		if _, ok := unused[name]; !ok {
			t.Errorf("bakery %s has no docs/json/%s.schema.json", c.CommandPath(), name)
		}
		delete(unused, name)
	}
	walk(New("test"))
	for n, u := range unused {
		if u {
			t.Errorf("docs/json/%s.schema.json is no command's", n)
		}
	}
}

func TestRefusedJSONIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"sbom", "127.0.0.1:1/x@sha256:" + strings.Repeat("a", 64)}, {"init"}} {
		_, err := run(t, append(args, "-o", "json")...)
		if failure.ClassOf(err).ExitCode() != 2 || !strings.Contains(fmt.Sprint(err), "JSON") {
			t.Errorf("%s -o json: %v (class %v), want a usage error", args[0], err, failure.ClassOf(err))
		}
	}
}

func TestErrorsAsJSON(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"status", "-o", "json"}, true},
		{[]string{"status", "-ojson"}, true},
		{[]string{"status", "-o=json"}, true},
		{[]string{"status", "--output=json"}, true},
		{[]string{"status", "--output", "json"}, true},
		{[]string{"status", "-o", "json", "-o", "text"}, false},
		{[]string{"status"}, false},
		{[]string{"status", "--", "-o", "json"}, false},
	} {
		if got := WantsJSON(tc.args); got != tc.want {
			t.Errorf("WantsJSON(%q) = %v", tc.args, got)
		}
	}
	err := fmt.Errorf("promoting: %w", failure.New(failure.Policy, `target "web"`, errors.New("denied\nby sbom_present"), ""))
	var b bytes.Buffer
	PrintError(&b, err, true)
	if err := schemacheck.Validate(repoRoot, "error", b.Bytes()); err != nil {
		t.Fatal(err)
	}
	var got errorJSON
	if jerr := json.Unmarshal(b.Bytes(), &got); jerr != nil || got.Class != "policy" || got.ExitCode != 5 || got.Error != err.Error() {
		t.Errorf("error JSON %s (%v)", b.String(), jerr)
	}
	b.Reset()
	PrintError(&b, err, false)
	if b.String() != "error: promoting: target \"web\": denied: by sbom_present\n" {
		t.Errorf("text error %q", b.String())
	}
}

func TestUsageErrorWithJSONIsJSON(t *testing.T) {
	_, err := run(t, "status", "--frobnicate", "-o", "json")
	var b bytes.Buffer
	PrintError(&b, err, WantsJSON([]string{"status", "--frobnicate", "-o", "json"}))
	if err := schemacheck.Validate(repoRoot, "error", b.Bytes()); err != nil || !strings.Contains(b.String(), `"exitCode": 2`) {
		t.Errorf("%v\n%s", err, b.String())
	}
}

func built(target string) pipeline.Built {
	return pipeline.Built{Result: builders.Result{Target: target, Kind: "container", Repository: "127.0.0.1:5000/dev/" + target,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, MediaType: "application/vnd.oci.image.index.v1+json",
		Platforms: []string{"linux/amd64"}, Size: 10, Tags: []string{"dev"}},
		Attestation: &attest.Attached{KeyID: "0e6400565c7c5691"}}
}

// TestBuildJSONListsFailedTargets: a build's JSON has an entry per failed
// target (one for each target an error names) beside the built ones, and a
// metadata file with failures still promotes the built ones.
func TestBuildJSONListsFailedTargets(t *testing.T) {
	buildErr := errors.Join(
		failure.New(failure.Build, `target "b"`, errors.New("process \"/bin/sh -c exit 1\"\ndid not complete"), "see the build output"),
		failure.New(failure.Unavailable, `targets "c", "d"`, errors.New("connection refused"), ""))
	out := validate(t, "build", buildJSON([]pipeline.Built{built("a")}, nil, buildErr))
	var got []string
	for _, e := range out["targets"].([]any) {
		m := e.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v", m["target"], m["class"], m["exitCode"]))
	}
	want := "a <nil> <nil>|b build 3|c unavailable 6|d unavailable 6"
	if strings.Join(got, "|") != want {
		t.Errorf("targets %q, want %q", strings.Join(got, "|"), want)
	}
	if e := out["targets"].([]any)[1].(map[string]any)["error"]; !strings.Contains(e.(string), "did not complete") {
		t.Errorf("b's error %q", e)
	}
	file := filepath.Join(t.TempDir(), "build.json")
	o := &buildOptions{rootOptions: &rootOptions{output: "text"}, metadataFile: file}
	cmd := &cobra.Command{}
	cmd.SetOut(&bytes.Buffer{})
	if err := o.print(cmd, []pipeline.Built{built("a")}, nil, buildErr); err != nil {
		t.Fatal(err)
	}
	b, err := readBuilt(file)
	if err != nil || len(b) != 1 || b[0].Target != "a" {
		t.Errorf("readBuilt of a build with failures: %v %+v", err, b)
	}
	validate(t, "build", buildJSON(nil, nil, nil))
}

// TestBuildShowsItsTestResults: build counts the test results its suites
// recorded apart from the attestations (as verify does), with the one
// summary, and lists them in JSON under the target, as its schema says.
func TestBuildShowsItsTestResults(t *testing.T) {
	a := built("a")
	a.Attestation.Attestations = []attest.AttachedInfo{{PredicateType: attest.PredicateSPDX}, {PredicateType: attest.PredicateCycloneDX}, {PredicateType: attest.PredicateSLSAv1}}
	tests := map[string][]promote.TestEvidence{"a": {
		{Suite: "structure", Platform: "linux/amd64", Result: "PASSED", Finished: "2026-12-05T09:00:00Z", Failed: []string{}, KeyID: "k"},
		{Suite: "structure", Platform: "linux/arm64", Result: "PASSED", Finished: "2026-12-05T09:00:00Z", Failed: []string{}, KeyID: "k"}}}
	o := &buildOptions{rootOptions: &rootOptions{output: "text"}}
	cmd := &cobra.Command{}
	var text bytes.Buffer
	cmd.SetOut(&text)
	if err := o.print(cmd, []pipeline.Built{a}, tests, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "signed by 0e6400565c7c5691, 3 attestations, 2 test results (2/2 passed)") {
		t.Errorf("build text: %s", text.String())
	}
	out := validate(t, "build", buildJSON([]pipeline.Built{a}, tests, nil))
	got := out["targets"].([]any)[0].(map[string]any)["tests"]
	if l, ok := got.([]any); !ok || len(l) != 2 || l[1].(map[string]any)["platform"] != "linux/arm64" {
		t.Errorf("build JSON tests: %v", got)
	}
}

// TestVerifyBundleJSONHasTests: verify --bundle -o json carries the test
// evidence of the bundle's image for its target, as its schema says; not
// another target's.
func TestVerifyBundleJSONHasTests(t *testing.T) {
	ref := "127.0.0.1:5000/prod/app@sha256:" + strings.Repeat("a", 64)
	att := func(target string) attest.AttestationInfo {
		b, _ := json.Marshal(imagetest.Result{Result: imagetest.Passed, Configuration: []imagetest.ResourceDescriptor{{Name: "s"}},
			Bakery: imagetest.Details{Suite: "smoke", Target: target, Environment: "staging", Finished: time.Now()}})
		return attest.AttestationInfo{PredicateType: imagetest.PredicateType, KeyID: "k", Subjects: []string{ref}, Predicate: b}
	}
	res := &bundle.Result{Bundle: "b.tar", Target: "app", Environment: "prod", Digest: "sha256:" + strings.Repeat("a", 64), Kind: "container",
		Report: &attest.Report{Reference: ref, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, Verified: true,
			Signatures: []attest.SignatureInfo{}, Attestations: []attest.AttestationInfo{att("app"), att("web")}}}
	out := validate(t, "verify", bundleJSON(res))
	tests, ok := out["tests"].([]any)
	if !ok || len(tests) != 1 || tests[0].(map[string]any)["environment"] != "staging" {
		t.Errorf("verify --bundle -o json: tests %v", out["tests"])
	}
}

// TestPromoteJSONIsOneShape: one target or several, a list of promotions,
// a failure with its error, class and exit code.
func TestPromoteJSONIsOneShape(t *testing.T) {
	res := &promote.Result{Action: "promote", Target: "web", Environment: "staging", From: "dev", Digest: "sha256:" + strings.Repeat("b", 64),
		Destination: "127.0.0.1:5000/staging/web", Tag: "staging", Receipt: true}
	denied := &promote.Result{Action: "promote", Target: "db", Environment: "staging", Digest: "sha256:" + strings.Repeat("c", 64),
		Decision: &policies.Decision{Violations: []policies.Violation{{Policy: "sbom_present", Message: "no SBOM"}}},
		Tests:    []promote.TestEvidence{{Suite: "smoke", Environment: "dev", Result: "FAILED", Finished: "2026-12-05T10:00:00Z", Failed: []string{"login"}, KeyID: "k"}}}
	one := promote.Outcome{Step: promote.Step{Request: promote.Request{Target: "web", To: "staging"}}, Result: res}
	fail := promote.Outcome{Step: promote.Step{Request: promote.Request{Target: "db", To: "staging"}}, Result: denied,
		Err: failure.New(failure.Policy, `target "db"`, errors.New("denied by sbom_present"), "")}
	for _, outcomes := range [][]promote.Outcome{{one}, {fail}, {one, fail}} {
		out := validate(t, "promote", promotionsJSON(outcomes))
		list := out["promotions"].([]any)
		if len(list) != len(outcomes) {
			t.Fatalf("%d promotions for %d outcomes", len(list), len(outcomes))
		}
		last := list[len(list)-1].(map[string]any)
		if outcomes[len(outcomes)-1].Err != nil && (last["class"] != "policy" || last["exitCode"] != float64(5) || last["error"] == "") {
			t.Errorf("failed promotion %v", last)
		}
	}
	// CI: each target's line, then a line per test result its decision saw.
	lines := promoteLines([]promote.Outcome{one, fail})
	if len(lines) != 3 || lines[2].Target != "db" || lines[2].Test != "test smoke in dev" || !lines[2].Failed || lines[2].Detail != "failed: login" {
		t.Errorf("promote's CI lines: %+v", lines)
	}
}

func TestDiffHistoryAndStatusAreCamelCase(t *testing.T) {
	d := policies.Diff("sha256:"+strings.Repeat("d", 64), nil, []policies.Package{{Name: "zlib", Version: "1", Type: "deb", Licenses: []string{"Zlib"}}})
	out := validate(t, "diff", deltaJSON(d))
	if fmt.Sprint(out["newLicenses"]) != "[Zlib]" {
		t.Errorf("diff newLicenses %v", out["newLicenses"])
	}
	h := historyEntry{Entry: promote.Entry{Target: "web", Repository: "r/web", Receipt: policies.Receipt{Environment: "prod", Digest: "sha256:x", KeyID: "k1", Action: "promote"}}}
	b, err := json.Marshal([]historyEntry{h})
	if err != nil {
		t.Fatal(err)
	}
	if err := schemacheck.Validate(repoRoot, "history", b); err != nil || !strings.Contains(string(b), `"keyId":"k1"`) {
		t.Errorf("history: %v\n%s", err, b)
	}
	b, _ = json.Marshal([]promote.Status{{Target: "web", Environment: "prod", Signer: "k1", Verified: true}})
	if err := schemacheck.Validate(repoRoot, "status", b); err != nil || !strings.Contains(string(b), `"keyId":"k1"`) {
		t.Errorf("status: %v\n%s", err, b)
	}
}

func TestKeysGenerateAndVersionJSON(t *testing.T) {
	t.Setenv("BAKERY_SIGNING_PASSWORD", "test")
	prefix := filepath.Join(t.TempDir(), "k")
	out, err := run(t, "keys", "generate", "--output-prefix", prefix, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := schemacheck.Validate(repoRoot, "keys-generate", []byte(out)); err != nil || !strings.Contains(out, prefix+".pub") {
		t.Errorf("%v\n%s", err, out)
	}
	v, _ := json.Marshal(runVersionJSON(t))
	if err := schemacheck.Validate(repoRoot, "version", v); err != nil {
		t.Errorf("%v\n%s", err, v)
	}
}
