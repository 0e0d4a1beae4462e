package imagetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestResultRoundTrip(t *testing.T) {
	img := testImage(t, v1.Config{})
	r := runSuite(t, &Suite{FileExistenceTests: []FileExistenceTest{
		{Name: "motd", Path: "/etc/motd"}, {Name: "missing", Path: "/nope"},
	}}, img, nil)
	r.Bakery.Target, r.Bakery.Environment, r.Bakery.Runner = "web", "staging", "node-1"
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"result":"FAILED"`, `"configuration":[{"name":"smoke.yaml","digest":{"sha256":"abc"}}]`,
		`"passedTests":["motd"]`, `"warnedTests":[]`, `"failedTests":["missing"]`, `"bakery":{"suite":"smoke","target":"web","platform":"linux/arm64","environment":"staging","runner":"node-1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s\ndoes not contain %s", b, want)
		}
	}
	back, err := ParsePredicate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip:\n%+v\n%+v", back, r)
	}
	if !r.Bakery.Started.Before(r.Bakery.Finished) && !r.Bakery.Started.Equal(r.Bakery.Finished) || time.Since(r.Bakery.Started) > time.Minute {
		t.Errorf("times %v %v", r.Bakery.Started, r.Bakery.Finished)
	}
	if s := r.Summary(); s != "suite smoke FAILED: 1 passed, 0 warned, 1 failed of 2; missing: /nope: no such file or directory" {
		t.Errorf("summary %q", s)
	}
}

func TestParsePredicateRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":          `{`,
		"unknown verdict":   `{"result":"OK","configuration":[{"name":"a"}]}`,
		"no configuration":  `{"result":"PASSED"}`,
		"passed with fails": `{"result":"PASSED","configuration":[{"name":"a"}],"failedTests":["x"]}`,
	} {
		if _, err := ParsePredicate([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Fields bakery does not know are ignored, as in-toto requires.
	if _, err := ParsePredicate([]byte(`{"result":"WARNED","configuration":[{"name":"a"}],"x-other":{"a":1}}`)); err != nil {
		t.Error(err)
	}
}

func TestLongReasonsAreCut(t *testing.T) {
	var r Result
	r.record(outcome{name: "a", verdict: Failed, reasons: []string{strings.Repeat("z", 2000)}})
	if got := len(r.Bakery.Problems[0].Reason); got != maxReason {
		t.Errorf("reason of %d bytes", got)
	}
}
