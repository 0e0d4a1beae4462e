package inventory

import (
	"net/url"
	"strings"
	"testing"
	"time"

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
	got, err := Outdated(f.ctx, f.cfg, f.keys, []string{"rogue"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Stale || got[1].Stale || got[0].Image != baseRepo.String()+":dev" {
		t.Fatalf("before the base moved: %+v, want dev and prod current (the pinned base is not listed)", got)
	}

	base2 := f.push(t, baseRepo, debianImage(t, "amd64", map[string]string{"hello": "2.10-4"}))
	f.build(t, f.trusted, base2, "base", builders.Result{Kind: builders.Container})
	got, err = Outdated(f.ctx, f.cfg, f.keys, nil, now.Add(72*time.Hour))
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

	if _, err := Outdated(f.ctx, f.cfg, f.keys, []string{"nope"}, now); err == nil {
		t.Error("an unknown target is not an error")
	}
}
