package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/cosign/v2/pkg/types"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// TestRebuilds: a target whose dev digest records the inputs it has now is
// up to date; each change of an input (a context file, the Dockerfile, an
// arg, a platform) makes it outdated with that reason, a change of where the
// cache lives does not, a target never built is outdated, and a target built
// on an outdated one follows it.
func TestRebuilds(t *testing.T) {
	f := newFixture(t)
	f.cfg.Dir = t.TempDir()
	writeTree(t, f.cfg.Dir, map[string]string{"base/Dockerfile": "FROM scratch\nCOPY motd /etc/motd\n", "base/motd": "hello\n"})
	base := f.cfg.Targets["base"]
	base.Context, base.Dockerfile, base.Args = "base", "Dockerfile", map[string]string{"V": "1"}
	params, err := buildkit.Inputs(f.cfg.Dir, base)
	if err != nil {
		t.Fatal(err)
	}
	ref := f.push(t, f.repo(t, "dev", "base"), debianImage(t, "amd64", map[string]string{"hello": "2.10-3"}))
	f.build(t, f.trusted, ref, "base", builders.Result{Kind: builders.Container, Invocation: &builders.Invocation{ExternalParameters: builders.Parameters{Container: params}}})

	targets := []*config.Target{base, f.cfg.Targets["empty"], f.cfg.Targets["rogue"]}
	bases := map[string][]string{"rogue": {"base"}}
	reasons := func() map[string]string {
		t.Helper()
		vs, err := Rebuilds(f.ctx, f.cfg, attest.Trusting(f.keys), targets, bases, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, v := range vs {
			out[v.Target] = strings.Join(v.Reasons, "; ")
		}
		return out
	}
	got := reasons()
	if got["base"] != "" || got["empty"] != "dev has no digest for it" || got["rogue"] != "dev has no digest for it" {
		t.Fatalf("before any change: %q", got)
	}
	base.CacheTo = []string{"type=registry,ref=" + f.reg.host + "/cache/base"}
	if got := reasons(); got["base"] != "" {
		t.Errorf("a new cache_to made base outdated: %q", got["base"])
	}
	for _, c := range []struct {
		change func()
		want   string
	}{
		{func() { writeTree(t, f.cfg.Dir, map[string]string{"base/motd": "hello again\n"}) }, "its context directory changed"},
		{func() { writeTree(t, f.cfg.Dir, map[string]string{"base/new-file": ""}) }, "its context directory changed"},
		{func() { writeTree(t, f.cfg.Dir, map[string]string{"base/Dockerfile": "FROM scratch\n"}) }, "its Dockerfile changed"},
		{func() { base.Args = map[string]string{"V": "2"} }, "its args changed"},
		{func() { base.Platforms = []string{"linux/arm64"} }, "its settings (platforms, stage, labels or secrets) changed"},
	} {
		c.change()
		got := reasons()
		if !strings.Contains(got["base"], c.want) {
			t.Errorf("base: %q, want %q", got["base"], c.want)
		}
		if !strings.Contains(got["rogue"], "its base target base is rebuilt") {
			t.Errorf("rogue, built on base: %q", got["rogue"])
		}
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRebuildsReadsProvenanceStrictly: a verified provenance whose external
// parameters have the wrong types (a container's target as a string, as
// once panicked here) is a verification failure; a well-formed one of the
// other kind of build is a reason to rebuild.
func TestRebuildsReadsProvenanceStrictly(t *testing.T) {
	f := newFixture(t)
	f.cfg.Dir = t.TempDir()
	writeTree(t, f.cfg.Dir, map[string]string{"base/Dockerfile": "FROM scratch\n"})
	base := f.cfg.Targets["base"]
	base.Context, base.Dockerfile = "base", "Dockerfile"
	ref := f.push(t, f.repo(t, "dev", "base"), debianImage(t, "amd64", map[string]string{"hello": "2.10-3"}))
	f.build(t, f.trusted, ref, "base", builders.Result{Kind: builders.Container})
	for _, tc := range []struct {
		name, buildType, params string
		reason                  string // "": a verification failure
	}{
		{"target is a string", attest.BuildTypeContainer, `{"target":"base"}`, ""},
		{"target is a number", attest.BuildTypeContainer, `{"target":1}`, ""},
		{"args are a list", attest.BuildTypeContainer, `{"target":{"name":"base"},"args":["V=1"]}`, ""},
		{"secrets are an object", attest.BuildTypeContainer, `{"target":{"name":"base","secrets":{"id":"x"}}}`, ""},
		{"a machine image's shape under a container's build type", attest.BuildTypeMachineImg, `{"target":{"name":"base"}}`, ""},
		{"a machine image's build", attest.BuildTypeMachineImg, `{"artifactId":"","buildName":"b","builderType":"c","target":"base"}`,
			"its provenance records a machine image build, not a container's"},
		{"no inputs", attest.BuildTypeContainer, `{}`, "its provenance records no inputs"},
	} {
		if _, err := attesttest.DropAttestations(f.ctx, ref, func(pt string, _ []string) bool { return pt == attest.PredicateSLSAv1 }); err != nil {
			t.Fatal(err)
		}
		st := attest.Statement{PredicateType: attest.PredicateSLSAv1, Subjects: []attest.Subject{attest.SubjectOf(ref)},
			Predicate: json.RawMessage(`{"buildDefinition":{"buildType":"` + tc.buildType + `","externalParameters":` + tc.params +
				`},"runDetails":{"builder":{"id":"https://builder.test"}}}`)}
		if err := attesttest.AttachStatement(f.ctx, f.trusted, ref, st, attest.PredicateSLSAv1, types.IntotoPayloadType); err != nil {
			t.Fatal(err)
		}
		vs, err := Rebuilds(f.ctx, f.cfg, attest.Trusting(f.keys), []*config.Target{base}, nil, time.Now())
		switch {
		case tc.reason == "" && failure.ClassOf(err) != failure.Verify:
			t.Errorf("%s: %v (class %v), %+v: want a verification failure", tc.name, err, failure.ClassOf(err), vs)
		case tc.reason != "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.reason != "" && !slices.Contains(vs[0].Reasons, tc.reason):
			t.Errorf("%s: reasons %q, want %q", tc.name, vs[0].Reasons, tc.reason)
		}
	}
}
