package gc

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// fixture is dev → staging → prod on one in-process registry, with a key
// pair, and a promoter with no policies (gc judges receipts, not policy).
type fixture struct {
	ctx      context.Context
	reg      *bakerytest.Registry
	cfg      *config.Config
	signer   signature.SignerVerifier
	verifier *attest.Verifier
	promoter *promote.Promoter
	builds   int
}

func newFixture(t *testing.T, h http.Handler, window int) *fixture {
	t.Helper()
	if h == nil {
		h = bakerytest.Handler()
	}
	f := &fixture{ctx: context.Background(), reg: bakerytest.Serve(t, h)}
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.signer, err = attest.LoadSigner(f.ctx, priv, nil); err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(f.ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	f.verifier = attest.Trusting(keys)
	env := func(n string) config.Environment {
		return config.Environment{Name: n, Repository: f.reg.Host + "/" + n, Tag: config.DefaultTagTemplate, Insecure: true, AcceptDirect: n != "dev"}
	}
	f.cfg = &config.Config{File: "bakery.yaml",
		Targets:      map[string]*config.Target{"app": {Name: "app", Type: config.TypeContainer}, "base": {Name: "base", Type: config.TypeContainer}},
		Environments: []config.Environment{env("dev"), env("staging"), env("prod")},
		Retention:    config.Retention{RollbackWindow: &window, MinAge: "0"},
	}
	engine, err := policies.Compile(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.promoter = promote.New(promote.Options{Config: f.cfg, Verifier: f.verifier, Signer: attest.ReadySigner(f.signer), Policies: engine, Version: "test"})
	return f
}

func (f *fixture) repo(t *testing.T, env, target string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(f.reg.Host+"/"+env+"/"+target, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build pushes a new image of target to dev as bakery build does
// (attestations, signature, build receipt, dev's tag), on deps.
func (f *fixture) build(t *testing.T, target string, img v1.Image, deps ...string) string {
	t.Helper()
	f.builds++
	if img == nil {
		img = bakerytest.Image(t, "linux/amd64", 256, 1)
	}
	d, _ := img.Digest()
	ref := f.repo(t, "dev", target).Digest(d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	f.attest(t, ref, target, deps...)
	return d.String()
}

func (f *fixture) attest(t *testing.T, ref name.Digest, target string, deps ...string) {
	t.Helper()
	now := time.Now()
	res := builders.Result{Target: target, Kind: builders.Container, Invocation: &builders.Invocation{StartedOn: now, FinishedOn: now}}
	for _, d := range deps {
		res.Invocation.ResolvedDependencies = append(res.Invocation.ResolvedDependencies, builders.Dependency{URI: "oci://base", Digest: map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}})
	}
	att := attest.New(attest.Options{Signer: f.signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := att.Attest(f.ctx, ref, res); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, f.signer, ref, target, "dev", "test"); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(ref.Context().Tag("dev"), desc); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) promote(t *testing.T, target, digest, to string) {
	t.Helper()
	from := map[string]string{"staging": "dev", "prod": "staging"}[to]
	if _, err := f.promoter.Promote(f.ctx, promote.Request{Target: target, To: to, From: from, Digest: digest, Reason: "test"}); err != nil {
		t.Fatalf("promote %s to %s: %v", digest, to, err)
	}
}

func (f *fixture) collector() Collector {
	return New(Options{Config: f.cfg, Verifier: f.verifier, Signer: attest.ReadySigner(f.signer)})
}

func (f *fixture) exists(t *testing.T, repo name.Repository, ref string) bool {
	t.Helper()
	var r name.Reference = repo.Tag(ref)
	if strings.HasPrefix(ref, "sha256:") {
		r = repo.Digest(ref)
	}
	_, err := remote.Head(r)
	return err == nil
}

func deleted(p *Plan, target, env string) []string {
	var out []string
	for _, r := range p.Repositories {
		if r.Target == target && r.Environment == env {
			for _, d := range r.Delete {
				if d.Kind != record.KindAttachments {
					out = append(out, d.Digest)
				}
			}
		}
	}
	return out
}

// TestKeepsWhatTheRulesSay: six builds; the first promoted to prod, the
// second to staging, the third revoked; a window of two. Dev keeps what it
// runs and the newest two, what staging and prod keep, and the revoked
// one; only the fourth goes, with its signature and attestations, and the
// log and history say so. A second run has nothing to do.
func TestKeepsWhatTheRulesSay(t *testing.T) {
	f := newFixture(t, nil, 2)
	var d []string
	for range 6 {
		d = append(d, f.build(t, "app", nil))
	}
	f.promote(t, "app", d[0], "staging")
	f.promote(t, "app", d[0], "prod")
	f.promote(t, "app", d[1], "staging")
	if err := revoke.Write(f.ctx, f.cfg, f.signer, f.verifier, []revoke.Entry{{Digest: d[2], Action: revoke.ActionRevoke, Target: "app",
		Reason: "test", Time: time.Now().UTC().Format(revoke.TimeFormat), EffectiveAt: time.Now().UTC().Format(revoke.TimeFormat)}}); err != nil {
		t.Fatal(err)
	}
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if got := deleted(plan, "app", "dev"); !slices.Equal(got, []string{d[3]}) {
		t.Fatalf("dev deletes %v, want only the fourth build %s", got, d[3])
	}
	for _, env := range []string{"staging", "prod"} {
		if got := deleted(plan, "app", env); len(got) != 0 {
			t.Errorf("%s deletes %v", env, got)
		}
	}
	dev := f.repo(t, "dev", "app")
	hex := "sha256-" + strings.TrimPrefix(d[3], "sha256:")
	if !f.exists(t, dev, d[3]) || !f.exists(t, dev, hex+".sig") {
		t.Fatal("the plan deleted something")
	}
	res, err := c.Apply(f.ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 3 {
		t.Errorf("deleted %d manifests, want the image, its .sig and its .att", res.Deleted)
	}
	for _, ref := range []string{d[3], hex + ".sig", hex + ".att"} {
		if f.exists(t, dev, ref) {
			t.Errorf("%s is still there", ref)
		}
	}
	for _, k := range []string{d[0], d[1], d[2], d[4], d[5]} {
		if !f.exists(t, dev, k) || !f.exists(t, dev, "sha256-"+strings.TrimPrefix(k, "sha256:")+".att") {
			t.Errorf("kept %s lost something", k)
		}
	}
	if _, err := f.verifier.Verify(f.ctx, dev.Digest(d[5])); err != nil {
		t.Errorf("kept digest no longer verifies: %v", err)
	}
	log, err := record.Read(f.ctx, dev, f.verifier.Keys())
	if err != nil || len(log.Runs) != 1 || log.Runs[0].State != record.Done || log.Runs[0].Rules.RollbackWindow != 2 {
		t.Fatalf("log %+v %v", log, err)
	}
	h, err := promote.DeletedHistory(f.ctx, f.verifier, "app", &f.cfg.Environments[0])
	if err != nil || len(h) != 2 || h[0].Action != receipt.ActionBuild || h[1].Action != promote.ActionDelete || h[1].Deleted == nil {
		t.Fatalf("deleted history %+v %v", h, err)
	}
	again, err := c.Plan(f.ctx, Selection{})
	if err != nil || again.Deletions != 0 {
		t.Fatalf("second plan deletes %d (%v)", again.Deletions, err)
	}
}

// TestForgedAttachmentTagsNeverTakeKeptDigests: an attacker tags the kept
// image as the signature of a digest that is not there, and pushes a junk
// .att for another; gc deletes the junk, never the kept image through the
// forged tag.
func TestForgedAttachmentTagsNeverTakeKeptDigests(t *testing.T) {
	f := newFixture(t, nil, 1)
	kept := f.build(t, "app", nil)
	dev := f.repo(t, "dev", "app")
	missing := "sha256-" + strings.Repeat("ab", 32)
	desc, err := remote.Get(dev.Digest(kept))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(dev.Tag(missing+".sig"), desc); err != nil {
		t.Fatal(err)
	}
	junk, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("junk"), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	other := "sha256-" + strings.Repeat("cd", 32) + ".att"
	if err := remote.Write(dev.Tag(other), junk); err != nil {
		t.Fatal(err)
	}
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{Environments: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(f.ctx, plan); err != nil {
		t.Fatal(err)
	}
	if f.exists(t, dev, other) {
		t.Error("the orphaned junk .att is still there")
	}
	if !f.exists(t, dev, kept) {
		t.Fatal("the kept image was deleted through a forged attachment tag")
	}
	if _, err := f.verifier.Verify(f.ctx, dev.Digest(kept)); err != nil {
		t.Errorf("kept digest no longer verifies: %v", err)
	}
}

// TestBasesOfKeptDigestsStay: app's kept build names an old base build in
// its provenance; that base digest stays though base's window has moved on.
func TestBasesOfKeptDigestsStay(t *testing.T) {
	f := newFixture(t, nil, 1)
	oldBase := f.build(t, "base", nil)
	f.build(t, "app", nil, oldBase)
	unused := f.build(t, "base", nil)
	f.build(t, "base", nil)
	plan, err := f.collector().Plan(f.ctx, Selection{Targets: []string{"base"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := deleted(plan, "base", "dev"); !slices.Equal(got, []string{unused}) {
		t.Fatalf("base deletes %v, want only %s (its old build is app's base)", got, unused)
	}
}

// TestSharedPlatformImageStays: two indexes share a platform image; the
// deleted one's other platform goes, the shared one stays with the kept index.
func TestSharedPlatformImageStays(t *testing.T) {
	f := newFixture(t, nil, 1)
	shared := bakerytest.Image(t, "linux/amd64", 128, 1)
	own := bakerytest.Image(t, "linux/arm64", 128, 1)
	mk := func(imgs ...v1.Image) v1.ImageIndex {
		var adds []mutate.IndexAddendum
		for _, img := range imgs {
			cf, _ := img.ConfigFile()
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}}})
		}
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	}
	dev := f.repo(t, "dev", "app")
	push := func(idx v1.ImageIndex) string {
		d, _ := idx.Digest()
		if err := remote.WriteIndex(dev.Digest(d.String()), idx); err != nil {
			t.Fatal(err)
		}
		f.attest(t, dev.Digest(d.String()), "app")
		return d.String()
	}
	old := push(mk(shared, own))
	push(mk(shared, bakerytest.Image(t, "linux/arm64", 128, 1)))
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	sd, _ := shared.Digest()
	od, _ := own.Digest()
	if got := deleted(plan, "app", "dev"); !slices.Equal(got, []string{old, od.String()}) {
		t.Fatalf("deletes %v, want the old index %s and its own platform %s", got, old, od)
	}
	if _, err := c.Apply(f.ctx, plan); err != nil {
		t.Fatal(err)
	}
	if !f.exists(t, dev, sd.String()) || f.exists(t, dev, od.String()) || f.exists(t, dev, old) {
		t.Error("after gc: want the shared platform image, not the old index or its own platform")
	}
}

// TestUnfinishedRunIsFinished: a run killed after deleting attachments
// left an untagged image that no tag names; its started log entry brings
// it back into the next plan, which deletes it and marks both runs done.
func TestUnfinishedRunIsFinished(t *testing.T) {
	f := newFixture(t, nil, 1)
	left := f.build(t, "app", nil)
	f.build(t, "app", nil)
	dev := f.repo(t, "dev", "app")
	hex := "sha256-" + strings.TrimPrefix(left, "sha256:")
	for _, tag := range []string{hex + ".sig", hex + ".att"} {
		desc, err := remote.Get(dev.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(dev.Digest(desc.Digest.String())); err != nil {
			t.Fatal(err)
		}
	}
	killed := &record.Log{Runs: []record.Run{{Target: "app", Environment: "dev", Repository: dev.String(), Time: "2026-01-01T00:00:00.000000000Z",
		State: record.Started, Deleted: []record.Deletion{{Digest: left, Kind: record.KindImage, Reason: "superseded"}}}}}
	if _, err := record.Write(f.ctx, dev, f.signer, killed); err != nil {
		t.Fatal(err)
	}
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{Environments: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := deleted(plan, "app", "dev"); !slices.Equal(got, []string{left}) {
		t.Fatalf("plan deletes %v, want the image the killed run left, %s", got, left)
	}
	if _, err := c.Apply(f.ctx, plan); err != nil {
		t.Fatal(err)
	}
	if f.exists(t, dev, left) {
		t.Error("the leftover image is still there")
	}
	log, err := record.Read(f.ctx, dev, f.verifier.Keys())
	if err != nil || len(log.Runs) != 2 || log.Pending() != nil {
		t.Fatalf("log after the re-run: %+v %v", log, err)
	}
}

// TestRegistryRefusingDeleteIsAConfigError: a registry with deletion off
// (405 UNSUPPORTED, the distribution registry's default) stops gc before
// anything is deleted or logged, naming the setting.
func TestRegistryRefusingDeleteIsAConfigError(t *testing.T) {
	inner := bakerytest.Handler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
			return
		}
		inner.ServeHTTP(w, r)
	})
	f := newFixture(t, h, 1)
	first := f.build(t, "app", nil)
	f.build(t, "app", nil)
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(f.ctx, plan)
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "storage.delete.enabled") {
		t.Fatalf("err = %v (class %v)", err, failure.ClassOf(err))
	}
	dev := f.repo(t, "dev", "app")
	if !f.exists(t, dev, first) || f.exists(t, dev, record.Tag) {
		t.Error("a refused gc changed the repository")
	}
}

// TestAnotherAddressIsNotJudged: read through another address of the same
// registry (a mirror, a proxy, a rename), the receipts name a repository
// that is not the one read; gc keeps those digests, unjudged, and says so,
// instead of taking them for never-promoted builds.
func TestAnotherAddressIsNotJudged(t *testing.T) {
	f := newFixture(t, nil, 1)
	for range 3 {
		f.build(t, "app", nil)
	}
	plan, err := f.collector().Plan(f.ctx, Selection{})
	if err != nil || len(deleted(plan, "app", "dev")) != 2 || len(plan.Warnings) != 0 {
		t.Fatalf("by its own address, dev deletes %v (want the two older builds), warnings %v, err %v", deleted(plan, "app", "dev"), plan.Warnings, err)
	}
	other := *f.cfg
	other.Environments = slices.Clone(f.cfg.Environments)
	for i := range other.Environments {
		other.Environments[i].Repository = strings.Replace(other.Environments[i].Repository, "127.0.0.1", "localhost", 1)
	}
	plan, err = New(Options{Config: &other, Verifier: f.verifier}).Plan(f.ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if got := deleted(plan, "app", "dev"); len(got) != 0 {
		t.Errorf("through another address, dev deletes %v", got)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "not judged") {
		t.Errorf("warnings %v", plan.Warnings)
	}
}

// TestWrongKeyJudgesNothing: with a trusted key that signed nothing here
// (a wrong --key, a rotated key), every digest looks unverifiable; gc
// deletes none of them and says why.
func TestWrongKeyJudgesNothing(t *testing.T) {
	f := newFixture(t, nil, 1)
	for range 3 {
		f.build(t, "app", nil)
	}
	_, pub, err := attest.GenerateKeys(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(f.ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := New(Options{Config: f.cfg, Verifier: attest.Trusting(keys)}).Plan(f.ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Deletions != 0 || len(plan.Warnings) == 0 || !strings.Contains(plan.Warnings[0], "none verifies with the trusted keys") {
		t.Fatalf("with another key: %d deletions, warnings %v", plan.Deletions, plan.Warnings)
	}
}

// TestForgedLogAndAttachmentCycle: an attacker points the bakery-gc tag at
// the image dev runs, and tags an unsigned image as its own signature (a
// cycle). gc neither crashes on the cycle nor deletes through the forged
// log: the repository is left alone, with the reason, and the image stays.
func TestForgedLogAndAttachmentCycle(t *testing.T) {
	f := newFixture(t, nil, 1)
	f.build(t, "app", nil)
	current := f.build(t, "app", nil)
	dev := f.repo(t, "dev", "app")
	junk := bakerytest.Image(t, "linux/amd64", 64, 1)
	jd, _ := junk.Digest()
	if err := remote.Write(dev.Tag("sha256-"+jd.Hex+".sig"), junk); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(dev.Digest(current))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(dev.Tag(record.Tag), desc); err != nil {
		t.Fatal(err)
	}
	c := f.collector()
	plan, err := c.Plan(f.ctx, Selection{Environments: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Ignored) == 0 || plan.Deletions != 0 {
		t.Fatalf("forged log: ignored %v, %d deletions", plan.Ignored, plan.Deletions)
	}
	if left := plan.Repositories[0].Left; len(left) == 0 || !strings.Contains(left[len(left)-1], "not a gc log a trusted key signed") {
		t.Errorf("left %v", left)
	}
	if _, err := c.Apply(f.ctx, plan); err != nil {
		t.Fatal(err)
	}
	if !f.exists(t, dev, current) || !f.exists(t, dev, "dev") {
		t.Fatal("the image dev runs was deleted through a forged gc log tag")
	}
}
