package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// pushBuilder pushes a random image for each target to the request's
// repository, records how many builds ran at once, and fails target "bad".
type pushBuilder struct {
	running, peak atomic.Int32
}

func (b *pushBuilder) Build(ctx context.Context, req builders.Request) (builders.Result, error) {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond) // let other builds overlap if the bound allows
	if req.Target.Name == "bad" {
		return builders.Result{}, failure.New(failure.Build, `target "bad"`, errors.New("exit code: 1"), "")
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return builders.Result{}, err
	}
	d, _ := img.Digest()
	if err := remote.Write(req.Repository.Digest(d.String()), img); err != nil {
		return builders.Result{}, err
	}
	return builders.Result{Target: req.Target.Name, Kind: builders.Container, Repository: req.Repository.Name(), Digest: d}, nil
}

func testConfig(t *testing.T, maxParallel int, names ...string) (*config.Config, string) {
	t.Helper()
	host := bakerytest.NewRegistry(t).Host
	cfg := &config.Config{
		Builder:      config.Builder{MaxParallel: maxParallel},
		Targets:      map[string]*config.Target{},
		Environments: []config.Environment{{Name: "dev", Repository: host + "/dev", Tag: config.DefaultTagTemplate, Insecure: true}},
		File:         "bakery.yaml",
	}
	for _, n := range names {
		cfg.Targets[n] = &config.Target{Name: n, Type: config.TypeContainer}
	}
	return cfg, host
}

func TestBuildBoundsConcurrencyAndTagsAfterSuccess(t *testing.T) {
	cfg, host := testConfig(t, 2, "a", "b", "c", "d", "bad")
	b := &pushBuilder{}
	results, err := Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true, Builders: map[string]builders.Builder{config.TypeContainer: b}})
	if failure.ClassOf(err) != failure.Build || !strings.Contains(err.Error(), `target "bad"`) {
		t.Fatalf("err = %v", err)
	}
	if got := b.peak.Load(); got != 2 {
		t.Errorf("peak concurrency = %d, want 2 (max_parallel)", got)
	}
	if len(results) != 4 {
		t.Fatalf("results = %+v", results)
	}
	for _, r := range results {
		desc, err := remote.Head(mustTag(t, host+"/dev/"+r.Target+":dev"))
		if err != nil || desc.Digest != r.Digest {
			t.Errorf("%s: dev tag = %v (%v), want %s", r.Target, desc, err, r.Digest)
		}
		if strings.Join(r.Tags, ",") != "dev" {
			t.Errorf("%s: tags = %v", r.Target, r.Tags)
		}
	}
	if _, err := remote.Head(mustTag(t, host+"/dev/bad:dev")); err == nil {
		t.Error("the failed target got a tag")
	}
}

func TestBuildSerialWhenMaxParallelIsOne(t *testing.T) {
	cfg, _ := testConfig(t, 1, "a", "b", "c")
	b := &pushBuilder{}
	if _, err := Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true, Builders: map[string]builders.Builder{config.TypeContainer: b}}); err != nil {
		t.Fatal(err)
	}
	if got := b.peak.Load(); got != 1 {
		t.Errorf("peak concurrency = %d, want 1", got)
	}
}

func TestBuildUnknownTargetAndDownRegistry(t *testing.T) {
	cfg, _ := testConfig(t, 1, "a")
	_, err := Build(context.Background(), cfg, []string{"nope"}, BuildOptions{})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), `target "nope": not defined in bakery.yaml (known targets: a)`) {
		t.Fatalf("unknown target: %v", err)
	}
	cfg.Environments[0].Repository = "127.0.0.1:1/dev"
	_, err = Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true, Builders: map[string]builders.Builder{config.TypeContainer: &pushBuilder{}}})
	if failure.ClassOf(err) != failure.Unavailable {
		t.Fatalf("down registry: %v", err)
	}
}

func TestBuildPackerTargetNotYetBuilt(t *testing.T) {
	cfg, _ := testConfig(t, 1)
	cfg.Targets["ami"] = &config.Target{Name: "ami", Type: config.TypePacker, Template: "x.pkr.hcl"}
	_, err := Build(context.Background(), cfg, nil, BuildOptions{NoAttest: true})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), `target "ami"`) {
		t.Fatalf("err = %v", err)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// failingAttester fails for target "a" and records what it attested.
type failingAttester struct{ attested atomic.Int32 }

func (f *failingAttester) Attest(_ context.Context, ref name.Digest, res builders.Result) (*attest.Attached, error) {
	if res.Target == "a" {
		return nil, failure.New(failure.Unavailable, ref.String(), errors.New("registry went away"), "")
	}
	f.attested.Add(1)
	return &attest.Attached{KeyID: "k"}, nil
}

// TestTagMovesOnlyAfterAttest checks that a target whose attestation fails
// keeps its tag where it was, while the others are attested and tagged.
func TestTagMovesOnlyAfterAttest(t *testing.T) {
	cfg, host := testConfig(t, 2, "a", "b")
	att := &failingAttester{}
	results, err := Build(context.Background(), cfg, nil, BuildOptions{
		Attester: att, Builders: map[string]builders.Builder{config.TypeContainer: &pushBuilder{}},
	})
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), `target "a"`) {
		t.Fatalf("err = %v", err)
	}
	if len(results) != 1 || results[0].Target != "b" || results[0].Attestation == nil || att.attested.Load() != 1 {
		t.Fatalf("results = %+v", results)
	}
	if _, err := remote.Head(mustTag(t, host+"/dev/a:dev")); err == nil {
		t.Error("target a was tagged although its attestation failed")
	}
	if _, err := remote.Head(mustTag(t, host+"/dev/b:dev")); err != nil {
		t.Errorf("target b was not tagged: %v", err)
	}
}

func TestMissingSigningKeyFailsBeforeBuilding(t *testing.T) {
	cfg, _ := testConfig(t, 1, "a")
	b := &pushBuilder{}
	_, err := Build(context.Background(), cfg, nil, BuildOptions{Builders: map[string]builders.Builder{config.TypeContainer: b}})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "signing.key") || b.peak.Load() != 0 {
		t.Fatalf("err = %v, builds = %d", err, b.peak.Load())
	}
}
