package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// countingRegistry is an in-process registry that counts the requests it
// serves, by method and path.
type countingRegistry struct {
	host string
	mu   sync.Mutex
	hits map[string]int
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	c := &countingRegistry{hits: map[string]int{}}
	inner := bakerytest.Handler()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	c.host = strings.TrimPrefix(s.URL, "http://")
	return c
}

// count returns the requests served since the last count, and starts again.
func (c *countingRegistry) count() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hits
	c.hits = map[string]int{}
	return h
}

type fixture struct {
	ctx              context.Context
	reg              *countingRegistry
	cfg              *config.Config
	keys             []attest.TrustedKey
	trusted, rogue   signature.SignerVerifier
	imageA, imageB   name.Digest // base: A in staging and prod (and dev's history), B in dev
	record           name.Digest // ami: a machine-image record, in dev and prod
	untrustedInRogue name.Digest
}

// dpkgRoot is a Debian root whose dpkg database lists the packages (name →
// version) and a copyright file, with its license, for each.
func dpkgRoot(pkgs map[string]string, licenses map[string]string) map[string][]byte {
	files := map[string][]byte{
		"etc/os-release": []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
	}
	var status strings.Builder
	for _, n := range slices.Sorted(maps.Keys(pkgs)) {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1\n"+
			"Maintainer: Example <%s@example.com>\nArchitecture: amd64\nVersion: %s\nDescription: %s\n\n", n, n, pkgs[n], n)
		files["usr/share/doc/"+n+"/copyright"] = []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: " + licenses[n] + "\n")
	}
	files["var/lib/dpkg/status"] = []byte(status.String())
	return files
}

var licenses = map[string]string{"hello": "GPL-3.0-or-later", "openssl": "Apache-2.0", "base-files": "GPL-2.0-or-later"}

// debianImage is a Debian image for one architecture.
func debianImage(t *testing.T, arch string, pkgs map[string]string) v1.Image {
	t.Helper()
	img, err := crane.Image(dpkgRoot(pkgs, licenses))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), reg: newCountingRegistry(t)}
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "trusted"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.trusted, err = attest.LoadSigner(f.ctx, priv, nil); err != nil {
		t.Fatal(err)
	}
	if f.keys, err = attest.NewTrustedKeys(f.ctx, []string{pub}); err != nil {
		t.Fatal(err)
	}
	opriv, _, err := attest.GenerateKeys(filepath.Join(dir, "rogue"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.rogue, err = attest.LoadSigner(f.ctx, opriv, nil); err != nil {
		t.Fatal(err)
	}
	env := func(n string) config.Environment {
		return config.Environment{Name: n, Repository: f.reg.host + "/" + n, Tag: config.DefaultTagTemplate, Insecure: true}
	}
	f.cfg = &config.Config{
		File: "bakery.yaml",
		Targets: map[string]*config.Target{
			"base":  {Name: "base", Type: config.TypeContainer},
			"rogue": {Name: "rogue", Type: config.TypeContainer},
			"ami":   {Name: "ami", Type: config.TypePacker},
			"empty": {Name: "empty", Type: config.TypeContainer}, // never built
		},
		Environments: []config.Environment{env("dev"), env("staging"), env("prod")},
	}
	return f
}

func (f *fixture) repo(t *testing.T, env, target string) name.Repository {
	t.Helper()
	e, _, err := f.cfg.LookupEnvironment(env)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.RepositoryFor(target)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build attests ref as bakery build does (SBOMs, provenance, signature,
// build receipt) with signer, and points dev's tag at it.
func (f *fixture) build(t *testing.T, signer signature.SignerVerifier, ref name.Digest, target string, res builders.Result) {
	t.Helper()
	res.Target = target
	opts := attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test", BuilderSBOMs: res.SBOM != nil}
	if _, err := attest.New(opts).Attest(f.ctx, ref, res); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, signer, ref, target, "dev", "test"); err != nil {
		t.Fatal(err)
	}
	f.tag(t, ref, "dev")
}

func (f *fixture) tag(t *testing.T, ref name.Digest, env string) {
	t.Helper()
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(ref.Context().Tag(env), desc); err != nil {
		t.Fatal(err)
	}
}

// promote copies ref from dev with its signatures and attestations into
// env's repository, signs env's receipt (with the environment's own AMIs,
// if any) and points env's tag at it, as bakery promote does.
func (f *fixture) promote(t *testing.T, ref name.Digest, target, env string, amis map[string]string) name.Digest {
	t.Helper()
	dst := f.repo(t, env, target).Digest(ref.DigestStr())
	hex := "sha256-" + strings.TrimPrefix(ref.DigestStr(), "sha256:")
	for _, pair := range [][2]string{
		{ref.String(), dst.String()},
		{ref.Context().String() + ":" + hex + ".sig", dst.Context().String() + ":" + hex + ".sig"},
		{ref.Context().String() + ":" + hex + ".att", dst.Context().String() + ":" + hex + ".att"},
	} {
		if err := crane.Copy(pair[0], pair[1], crane.Insecure); err != nil {
			t.Fatal(err)
		}
	}
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: target, Environment: env, From: "dev", AMIs: amis}
	if err := receipt.Sign(f.ctx, f.trusted, dst, meta, "", "test", nil); err != nil {
		t.Fatal(err)
	}
	f.tag(t, dst, env)
	return dst
}

// populate builds the registry every test searches:
//   - base: A (openssl ~deb12u1) built into dev, promoted to staging and
//     prod; then B (openssl ~deb12u2, linux/amd64 and linux/arm64) built into
//     dev. A stays in dev's receipted history. prod's copy of A also carries
//     an SBOM signed by an untrusted key that lists a backdoor.
//   - ami: a machine-image record whose SBOM lists A's packages, in dev
//     (AMIs as built) and prod (prod's own AMIs, from its receipt).
//   - rogue: A again (the same digest), signed and attested in rogue's
//     repository only by an untrusted key, in dev: that A verifies in base's
//     repositories does not make rogue's copy searched.
func (f *fixture) populate(t *testing.T) {
	t.Helper()
	pkgsA := map[string]string{"hello": "2.10-3", "openssl": "3.0.11-1~deb12u1", "base-files": "12.4+deb12u5"}
	pkgsB := map[string]string{"hello": "2.10-3", "openssl": "3.0.11-1~deb12u2", "base-files": "12.4+deb12u6"}

	f.imageA = f.push(t, f.repo(t, "dev", "base"), debianImage(t, "amd64", pkgsA))
	f.build(t, f.trusted, f.imageA, "base", builders.Result{Kind: builders.Container})
	f.promote(t, f.imageA, "base", "staging", nil)
	inProd := f.promote(t, f.imageA, "base", "prod", nil)
	f.attachRogueSBOM(t, inProd)

	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		adds = append(adds, mutate.IndexAddendum{Add: debianImage(t, arch, pkgsB),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	f.imageB = f.repo(t, "dev", "base").Digest(d.String())
	if err := remote.WriteIndex(f.imageB, idx); err != nil {
		t.Fatal(err)
	}
	f.build(t, f.trusted, f.imageB, "base", builders.Result{Kind: builders.Container})

	spdx, err := sbom.Generate(f.ctx, f.imageA, "linux/amd64", sbom.Identity{Version: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &machineimage.Record{Target: "ami", Platform: "linux/amd64", AMIs: map[string]string{"eu-west-1": "ami-0built"}}
	if f.record, _, err = machineimage.Push(f.ctx, f.repo(t, "dev", "ami"), rec); err != nil {
		t.Fatal(err)
	}
	f.build(t, f.trusted, f.record, "ami", builders.Result{Kind: builders.MachineImage, SBOM: spdx.SPDX})
	f.promote(t, f.record, "ami", "prod", map[string]string{"eu-west-1": "ami-0prod"})

	f.untrustedInRogue = f.push(t, f.repo(t, "dev", "rogue"), debianImage(t, "amd64", pkgsA))
	f.build(t, f.rogue, f.untrustedInRogue, "rogue", builders.Result{Kind: builders.Container})
}

func (f *fixture) push(t *testing.T, repo name.Repository, img v1.Image) name.Digest {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.Digest(d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// attachRogueSBOM attaches to ref an SPDX document about it, signed by the
// untrusted key, that lists a package named backdoor.
func (f *fixture) attachRogueSBOM(t *testing.T, ref name.Digest) {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{"spdxVersion": "SPDX-2.3", "packages": []map[string]any{{
		"SPDXID": "SPDXRef-Package-deb-backdoor", "name": "backdoor", "versionInfo": "3.0.11-1~deb12u1",
		"licenseDeclared": "GPL-3.0-or-later",
		"externalRefs":    []map[string]string{{"referenceType": "purl", "referenceLocator": "pkg:deb/debian/backdoor@3.0.11-1~deb12u1"}},
	}}})
	st := attest.Statement{PredicateType: attest.PredicateSPDX, Subjects: []attest.Subject{attest.SubjectOf(ref)}, Predicate: doc}
	if err := attest.Attach(f.ctx, f.rogue, ref, []attest.Statement{st}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) find(t *testing.T, q Query) *Result {
	t.Helper()
	res, err := Find(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)}, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, err := ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rows renders matches as "target env platform name version [history]" lines.
func rows(ms []Match) []string {
	var out []string
	for _, m := range ms {
		r := fmt.Sprintf("%s %s %s %s %s", m.Target, m.Environment, m.Platform, m.Package.Name, m.Package.Version)
		if !m.Current {
			r += " history"
		}
		out = append(out, r)
	}
	return out
}

func TestFind(t *testing.T) {
	f := newFixture(t)
	f.populate(t)
	vulnerable := Query{Name: "openssl", Range: mustRange(t, "<3.0.11-1~deb12u2")}

	t.Run("by name and range, in the package's own ordering", func(t *testing.T) {
		res := f.find(t, vulnerable)
		want := []string{
			"ami dev linux/amd64 openssl 3.0.11-1~deb12u1",
			"ami prod linux/amd64 openssl 3.0.11-1~deb12u1",
			"base staging linux/amd64 openssl 3.0.11-1~deb12u1",
			"base prod linux/amd64 openssl 3.0.11-1~deb12u1",
		}
		if got := rows(res.Matches); !slices.Equal(got, want) {
			t.Errorf("matches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, m := range res.Matches {
			if m.Package.Type != "deb" || !strings.HasPrefix(m.Package.PURL, "pkg:deb/debian/openssl@") {
				t.Errorf("package %+v", m.Package)
			}
			wantDigest, wantKind, wantAMIs := f.imageA.DigestStr(), "container", map[string]string(nil)
			if m.Target == "ami" {
				wantDigest, wantKind = f.record.DigestStr(), "machine-image"
				wantAMIs = map[string]string{"eu-west-1": map[string]string{"dev": "ami-0built", "prod": "ami-0prod"}[m.Environment]}
			}
			if m.Digest != wantDigest || m.Kind != wantKind || !maps.Equal(m.AMIs, wantAMIs) || m.PlatformDigest != m.Digest {
				t.Errorf("%s in %s: digest %s kind %s AMIs %v platform digest %s; want %s %s %v", m.Target, m.Environment,
					m.Digest, m.Kind, m.AMIs, m.PlatformDigest, wantDigest, wantKind, wantAMIs)
			}
		}
		// rogue runs a vulnerable openssl too, but only an untrusted key
		// vouches for its SBOM: it is not searched, and said so.
		if len(res.Skipped) != 1 || res.Skipped[0].Target != "rogue" || res.Skipped[0].Environment != "dev" ||
			!strings.Contains(res.Skipped[0].Reason, "no signature by a trusted key") {
			t.Errorf("skipped %+v, want rogue in dev, unverified", res.Skipped)
		}
	})

	t.Run("a conjunction where ~ sorts before the release", func(t *testing.T) {
		res := f.find(t, Query{Name: "openssl", Range: mustRange(t, ">=3.0.11-1~deb12u1,<3.0.11-1")})
		if len(res.Matches) != 6 { // ami dev+prod, base dev (two platforms), staging, prod
			t.Errorf("matches:\n%s", strings.Join(rows(res.Matches), "\n"))
		}
		res = f.find(t, Query{Name: "openssl", Range: mustRange(t, "3.0.11-1~deb12u2")})
		want := []string{"base dev linux/amd64 openssl 3.0.11-1~deb12u2", "base dev linux/arm64 openssl 3.0.11-1~deb12u2"}
		if got := rows(res.Matches); !slices.Equal(got, want) {
			t.Errorf("exact version: %v, want %v", got, want)
		}
		for _, m := range res.Matches {
			if m.Digest != f.imageB.DigestStr() || m.PlatformDigest == m.Digest {
				t.Errorf("index match %+v: want the index digest and its platform's own digest", m)
			}
		}
	})

	t.Run("a range nothing is in finds nothing", func(t *testing.T) {
		for _, r := range []string{">=3.1", "<3.0.11-1~deb12u1", "3.0.11-1"} {
			if res := f.find(t, Query{Name: "openssl", Range: mustRange(t, r)}); len(res.Matches) != 0 {
				t.Errorf("openssl@%s: %v", r, rows(res.Matches))
			}
		}
		if res := f.find(t, Query{Name: "no-such-package"}); len(res.Matches) != 0 || res.Matches == nil {
			t.Errorf("no-such-package: %#v, want an empty list", res.Matches)
		}
	})

	t.Run("by license", func(t *testing.T) {
		res := f.find(t, Query{License: "GPL-3.0-or-later"})
		want := []string{
			"ami dev linux/amd64 hello 2.10-3",
			"ami prod linux/amd64 hello 2.10-3",
			"base dev linux/amd64 hello 2.10-3",
			"base dev linux/arm64 hello 2.10-3",
			"base staging linux/amd64 hello 2.10-3",
			"base prod linux/amd64 hello 2.10-3",
		}
		if got := rows(res.Matches); !slices.Equal(got, want) {
			t.Errorf("matches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if res := f.find(t, Query{License: "Apache-2.0", Name: "hello"}); len(res.Matches) != 0 {
			t.Errorf("hello is not Apache-2.0: %v", rows(res.Matches))
		}
	})

	t.Run("an SBOM an untrusted key signed is never searched", func(t *testing.T) {
		// prod's copy of A carries it; A verifies by its trusted SBOM.
		for _, q := range []Query{{Name: "backdoor"}, {PURL: "pkg:deb/debian/backdoor"}} {
			if res := f.find(t, q); len(res.Matches) != 0 {
				t.Errorf("%+v: %v", q, rows(res.Matches))
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		q := vulnerable
		q.History = true
		res := f.find(t, q)
		want := []string{
			"ami dev linux/amd64 openssl 3.0.11-1~deb12u1",
			"ami prod linux/amd64 openssl 3.0.11-1~deb12u1",
			"base dev linux/amd64 openssl 3.0.11-1~deb12u1 history",
			"base staging linux/amd64 openssl 3.0.11-1~deb12u1",
			"base prod linux/amd64 openssl 3.0.11-1~deb12u1",
		}
		if got := rows(res.Matches); !slices.Equal(got, want) {
			t.Errorf("matches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("each SBOM is read once", func(t *testing.T) { readsEachSBOMOnce(t, f) })
	t.Run("a revoked digest is marked, the others are not", func(t *testing.T) {
		now := time.Now().UTC().Format(revoke.TimeFormat)
		entry := revoke.Entry{Digest: f.imageA.DigestStr(), Action: revoke.ActionRevoke, Reason: "CVE-2026-0001", Time: now, EffectiveAt: now}
		if err := revoke.Write(f.ctx, f.cfg, f.trusted, attest.Trusting(f.keys), []revoke.Entry{entry}); err != nil {
			t.Fatal(err)
		}
		res := f.find(t, Query{Name: "openssl"})
		revoked := 0
		for _, m := range res.Matches {
			isA := m.Digest == f.imageA.DigestStr()
			if isA != (m.Revoked != nil) || (isA && m.Revoked.Reason != "CVE-2026-0001") {
				t.Errorf("%s %s %s: revoked = %+v", m.Target, m.Environment, m.Digest, m.Revoked)
			}
			if isA {
				revoked++
			}
		}
		if revoked == 0 {
			t.Error("no match of the revoked digest")
		}
	})
}

// readsEachSBOMOnce: a digest that three environments run is verified once
// in each repository and its SBOM decoded once; asking for the history too
// reads no repository's attestations more often than one verification does.
func readsEachSBOMOnce(t *testing.T, f *fixture) {
	q := Query{Name: "openssl"}

	f.reg.count()
	res := f.find(t, q)
	current := f.reg.count()
	// Verified: base dev (B), staging (A), prod (A); ami dev, prod; rogue dev.
	// SBOMs: B's two platforms, A's one, the record's one; rogue's is not
	// trusted, so not read.
	if res.Verified != 6 || res.SBOMs != 4 {
		t.Errorf("verified %d digests and decoded %d SBOMs, want 6 and 4", res.Verified, res.SBOMs)
	}
	if len(res.Matches) != 6 {
		t.Errorf("matches:\n%s", strings.Join(rows(res.Matches), "\n"))
	}

	q.History = true
	res = f.find(t, q)
	history := f.reg.count()
	// A is also in dev's history: one more verification, and no more SBOMs
	// (A's was decoded for staging's and prod's tags).
	if res.Verified != 7 || res.SBOMs != 4 {
		t.Errorf("with history: verified %d digests and decoded %d SBOMs, want 7 and 4", res.Verified, res.SBOMs)
	}

	// dev2 shares dev's repository and tag: the same digests, verified once.
	shared := *f.cfg
	shared.Environments = append(slices.Clone(f.cfg.Environments), config.Environment{Name: "dev2",
		Repository: f.reg.host + "/dev", Tag: "dev", Insecure: true})
	res, err := Find(f.ctx, Options{Config: &shared, Verifier: attest.Trusting(f.keys)}, Query{Name: "openssl"})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.count()
	if res.Verified != 6 || res.SBOMs != 4 || len(res.Matches) != 9 || len(res.Skipped) != 2 {
		t.Errorf("dev2 sharing dev's repository: verified %d digests, decoded %d SBOMs, %d matches, %d skipped; want 6, 4, 9, 2",
			res.Verified, res.SBOMs, len(res.Matches), len(res.Skipped))
	}

	// One verification of A in prod, on its own, for comparison.
	inProd := f.repo(t, "prod", "base").Digest(f.imageA.DigestStr())
	if _, err := attest.Trusting(f.keys).Verify(f.ctx, inProd); err != nil {
		t.Fatal(err)
	}
	once := f.reg.count()
	att := "GET /v2/prod/base/manifests/sha256-" + strings.TrimPrefix(f.imageA.DigestStr(), "sha256:") + ".att"
	if once[att] == 0 || current[att] != once[att] || history[att] != once[att] {
		t.Errorf("%s: %d requests in a search, %d with history, %d in one verification", att, current[att], history[att], once[att])
	}
	// The prod SBOM's blobs were fetched no more often than one
	// verification fetches them.
	for k, n := range once {
		if strings.HasPrefix(k, "GET /v2/prod/base/blobs/") && (current[k] != n || history[k] != n) {
			t.Errorf("%s: %d requests in a search, %d with history, %d in one verification", k, current[k], history[k], n)
		}
	}
}

// TestFindWithAnEnvironmentDown: with staging's registry gone (connections
// refused), find answers from dev and prod, lists staging as unreachable
// once per target, and returns the partial answer's exit-6 error naming
// staging.
func TestFindWithAnEnvironmentDown(t *testing.T) {
	f := newFixture(t)
	f.populate(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there any more
	f.cfg.Environments[1].Repository = strings.TrimPrefix(dead.URL, "http://") + "/staging"

	for _, history := range []bool{false, true} {
		res, err := Find(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)}, Query{Name: "openssl", History: history})
		if res == nil || failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "environment staging (") {
			t.Fatalf("history %v: result %v, error %v; want a partial result and an outage naming staging", history, res, err)
		}
		want := []string{
			"ami dev linux/amd64 openssl 3.0.11-1~deb12u1",
			"ami prod linux/amd64 openssl 3.0.11-1~deb12u1",
			"base dev linux/amd64 openssl 3.0.11-1~deb12u2",
			"base dev linux/arm64 openssl 3.0.11-1~deb12u2",
			"base prod linux/amd64 openssl 3.0.11-1~deb12u1",
		}
		if history {
			want = slices.Insert(want, 4, "base dev linux/amd64 openssl 3.0.11-1~deb12u1 history")
		}
		if got := rows(res.Matches); !slices.Equal(got, want) {
			t.Errorf("history %v: matches\n%s\nwant\n%s", history, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var down []string
		for _, u := range res.Unreachable {
			if u.Unreachable == "" || u.Digest != "" {
				t.Errorf("unreachable entry %+v: want only why", u)
			}
			down = append(down, u.Target+" "+u.Environment)
		}
		if want := []string{"ami staging", "base staging", "empty staging", "rogue staging"}; !slices.Equal(down, want) {
			t.Errorf("history %v: unreachable %v, want %v", history, down, want)
		}
	}
}
