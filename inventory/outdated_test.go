package inventory

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
)

// TestOutdated: an app built FROM base's dev tag is current until base is
// rebuilt, then stale in every environment that runs it, with the days since
// the new base was made; a base pinned by digest is never listed.
func TestOutdated(t *testing.T) {
	f := newFixture(t)
	pkgs := map[string]string{"hello": "2.10-3"}
	baseRepo := f.repo(t, "dev", "base")
	base1 := f.push(t, baseRepo, debianImage(t, "amd64", pkgs))
	f.build(t, f.trusted, base1, "base", builders.Result{Kind: builders.Container})

	purl := "pkg:docker/" + url.PathEscape(baseRepo.String()) + "@dev?platform=linux%2Famd64"
	deps := func(d string) builders.Result {
		return builders.Result{Kind: builders.Container, Invocation: &builders.Invocation{ResolvedDependencies: []builders.Dependency{
			{URI: purl, Digest: map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}},
			{URI: "pkg:docker/" + url.PathEscape(baseRepo.String()) + "@" + d, Digest: map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}},
		}}}
	}
	f.cfg.Targets["app"] = f.cfg.Targets["rogue"]
	app := f.push(t, f.repo(t, "dev", "rogue"), debianImage(t, "amd64", map[string]string{"app": "1.0"}))
	f.build(t, f.trusted, app, "rogue", deps(base1.DigestStr()))
	f.promote(t, app, "rogue", "prod", nil)

	now := time.Now()
	got, err := Outdated(f.ctx, f.cfg, attest.Trusting(f.keys), []string{"rogue"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Stale || got[1].Stale || got[0].Image != baseRepo.String()+":dev" {
		t.Fatalf("before the base moved: %+v, want dev and prod current (the pinned base is not listed)", got)
	}

	base2 := f.push(t, baseRepo, debianImage(t, "amd64", map[string]string{"hello": "2.10-4"}))
	f.build(t, f.trusted, base2, "base", builders.Result{Kind: builders.Container})
	got, err = Outdated(f.ctx, f.cfg, attest.Trusting(f.keys), nil, now.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stale := map[string]Base{}
	for _, b := range got {
		if b.Stale {
			stale[b.Target+"/"+b.Environment] = b
		}
	}
	for _, key := range []string{"rogue/dev", "rogue/prod"} {
		b, ok := stale[key]
		if !ok || b.Recorded != base1.DigestStr() || b.Current != base2.DigestStr() {
			t.Errorf("%s: %+v, want stale from %s to %s", key, b, base1.DigestStr(), base2.DigestStr())
		}
	}
	if len(stale) != 2 {
		t.Errorf("stale %v, want only the app in dev and prod", stale)
	}

	if _, err := Outdated(f.ctx, f.cfg, attest.Trusting(f.keys), []string{"nope"}, now); err == nil {
		t.Error("an unknown target is not an error")
	}
}

// TestOutdatedComparesWhatTheBuildConsumed: an app built for linux/amd64 on
// a two-platform base index stays current when the base's tag moves to an
// index whose linux/amd64 image is the same (only arm64 and BuildKit's own
// attestation manifest differ), and is stale when the linux/amd64 image
// changes, or when the recorded index is gone from the registry and the
// platform image cannot be compared.
func TestOutdatedComparesWhatTheBuildConsumed(t *testing.T) {
	f := newFixture(t)
	baseRepo := f.repo(t, "dev", "base")
	amd64 := debianImage(t, "amd64", map[string]string{"hello": "2.10-3"})
	index := func(amd64, arm64 v1.Image, note string) name.Digest {
		t.Helper()
		att, err := mutate.Config(empty.Image, v1.Config{Labels: map[string]string{"note": note}})
		if err != nil {
			t.Fatal(err)
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
			mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}})
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ref := baseRepo.Digest(d.String())
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		f.tag(t, ref, "dev")
		return ref
	}
	recorded := index(amd64, debianImage(t, "arm64", map[string]string{"hello": "2.10-3"}), "first build")
	purl := "pkg:docker/" + url.PathEscape(baseRepo.String()) + "@dev?platform=linux%2Famd64"
	app := f.push(t, f.repo(t, "dev", "rogue"), debianImage(t, "amd64", map[string]string{"app": "1.0"}))
	f.build(t, f.trusted, app, "rogue", builders.Result{Kind: builders.Container, Invocation: &builders.Invocation{
		ResolvedDependencies: []builders.Dependency{{URI: purl, Digest: map[string]string{"sha256": strings.TrimPrefix(recorded.DigestStr(), "sha256:")}}}}})

	outdated := func(what string, wantStale bool, wantCurrent name.Digest) {
		t.Helper()
		got, err := Outdated(f.ctx, f.cfg, attest.Trusting(f.keys), []string{"rogue"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Stale != wantStale || got[0].Recorded != recorded.DigestStr() || got[0].Current != wantCurrent.DigestStr() {
			t.Errorf("%s: %+v, want stale %v from %s to %s", what, got, wantStale, recorded.DigestStr(), wantCurrent.DigestStr())
		}
	}
	sameAMD64 := index(amd64, debianImage(t, "arm64", map[string]string{"hello": "2.10-4"}), "second build")
	if sameAMD64.DigestStr() == recorded.DigestStr() {
		t.Fatal("the second index has the first one's digest")
	}
	outdated("another index, the same linux/amd64 image", false, sameAMD64)

	newAMD64 := index(debianImage(t, "amd64", map[string]string{"hello": "2.10-4"}), debianImage(t, "arm64", map[string]string{"hello": "2.10-4"}), "third build")
	outdated("another linux/amd64 image", true, newAMD64)

	f.tag(t, sameAMD64, "dev")
	if err := remote.Delete(recorded); err != nil {
		t.Fatal(err)
	}
	outdated("the recorded index gone, nothing to compare with", true, sameAMD64)
}
