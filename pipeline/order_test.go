package pipeline

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// baseChecker records, for each build, whether the tags its BASE arg names
// already pointed somewhere when it started.
type baseChecker struct {
	pushBuilder
	mu       sync.Mutex
	baseSeen map[string]bool
}

func (b *baseChecker) Build(ctx context.Context, req builders.Request) (builders.Result, error) {
	if base := req.Target.Args["BASE"]; base != "" {
		tag, err := name.NewTag(base, name.Insecure)
		if err == nil {
			_, err = remote.Head(tag)
		}
		b.mu.Lock()
		b.baseSeen[req.Target.Name] = err == nil
		b.mu.Unlock()
	}
	return b.pushBuilder.Build(ctx, req)
}

func TestBuildOrdersTargetsAfterTheirBases(t *testing.T) {
	cfg, host := testConfig(t, 4, "app", "base", "bad", "on-bad", "lone")
	cfg.Targets["app"].Args = map[string]string{"BASE": host + "/dev/base:dev"}
	cfg.Targets["on-bad"].Args = map[string]string{"BASE": host + "/dev/bad:dev", "OTHER": "not a reference"}
	b := &baseChecker{baseSeen: map[string]bool{}}
	results, err := Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true, Builders: map[string]builders.Builder{config.TypeContainer: b}})
	if err == nil || !strings.Contains(err.Error(), `target "on-bad": not built: it is built on target "bad", which failed`) {
		t.Fatalf("err = %v", err)
	}
	if !b.baseSeen["app"] {
		t.Error("app started before base's dev tag existed")
	}
	if _, ran := b.baseSeen["on-bad"]; ran {
		t.Error("on-bad was built although its base failed")
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Target)
	}
	if strings.Join(got, ",") != "app,base,lone" {
		t.Errorf("results = %v, want app,base,lone in the order of the targets", got)
	}
}

func TestBasesRefusesCycles(t *testing.T) {
	cfg, host := testConfig(t, 2, "a", "b", "c")
	cfg.Targets["a"].Args = map[string]string{"BASE": host + "/dev/b:dev"}
	cfg.Targets["b"].Args = map[string]string{"BASE": host + "/dev/c:dev"}
	cfg.Targets["c"].Args = map[string]string{"BASE": host + "/dev/a:dev"}
	_, err := Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true, Builders: map[string]builders.Builder{config.TypeContainer: &pushBuilder{}}})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "targets a -> b -> c -> a") {
		t.Fatalf("err = %v, want a config error naming the cycle", err)
	}
	cfg.Targets["c"].Args = map[string]string{"BASE": host + "/dev/a@sha256:" + strings.Repeat("0", 64)}
	bases, err := Bases(cfg, []*config.Target{cfg.Targets["a"], cfg.Targets["b"], cfg.Targets["c"]})
	if err != nil || len(bases["c"]) != 0 || bases["a"][0] != "b" {
		t.Fatalf("bases = %v, %v: a base pinned by digest does not order anything", bases, err)
	}
}

// TestBuildFailFast: by default a failure stops nothing else; with
// FailFast the targets not started yet are not built, and say why. The
// joined error's class is the worst of the failures'.
func TestBuildFailFast(t *testing.T) {
	cfg, _ := testConfig(t, 1, "a-bad", "b", "c")
	cfg.Targets["bad"] = cfg.Targets["a-bad"]
	delete(cfg.Targets, "a-bad")
	cfg.Targets["bad"].Name = "bad"
	cfg.Targets["ami"] = &config.Target{Name: "ami", Type: config.TypePacker} // no packer Builder: a config error
	bs := map[string]builders.Builder{config.TypeContainer: &pushBuilder{}}
	results, err := Build(context.Background(), cfg, []string{"bad", "ami", "b", "c"}, BuildOptions{NoAttest: true, Builders: bs})
	if len(results) != 2 || failure.ClassOf(err) != failure.Build {
		t.Fatalf("without --fail-fast: %d built, %v (class %v), want b and c built and the build class (worse than config)", len(results), err, failure.ClassOf(err))
	}
	results, err = Build(context.Background(), cfg, []string{"bad", "b", "c"}, BuildOptions{NoAttest: true, Builders: bs, FailFast: true})
	if len(results) != 0 || err == nil || strings.Count(err.Error(), `not built: --fail-fast: target "bad" failed`) != 2 {
		t.Fatalf("with --fail-fast: %d built, %v", len(results), err)
	}
}

// TestTargetArgsOrderAndHardCodedWarn: target:NAME orders the build after
// NAME; spelling out NAME's dev tag still orders it but is a warning, and so
// is a repository named after a target outside the config's environments.
func TestTargetArgsOrderAndHardCodedWarn(t *testing.T) {
	cfg := &config.Config{
		Targets: map[string]*config.Target{
			"base":  {Name: "base", Type: config.TypeContainer},
			"app":   {Name: "app", Type: config.TypeContainer, Args: map[string]string{"BASE": "target:base"}},
			"hard":  {Name: "hard", Type: config.TypeContainer, Args: map[string]string{"BASE": "registry.example/dev/base:dev"}},
			"moved": {Name: "moved", Type: config.TypeContainer, Args: map[string]string{"BASE": "old.example/dev/base:dev"}},
		},
		Environments: []config.Environment{{Name: "dev", Repository: "registry.example/dev", Tag: "{{ .Env }}"}},
	}
	targets, err := Select(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	bases, err := Bases(cfg, targets)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bases["app"], []string{"base"}) || !slices.Equal(bases["hard"], []string{"base"}) || len(bases["moved"]) != 0 {
		t.Errorf("bases = %v", bases)
	}
	w := HardCodedBases(cfg)
	if len(w) != 2 || !strings.Contains(w[0], "targets.hard.args.BASE names base's dev image by hand") ||
		!strings.Contains(w[1], "targets.moved.args.BASE names a repository called base outside") || !strings.Contains(w[1], "write BASE: target:base") {
		t.Errorf("warnings = %q", w)
	}
}
