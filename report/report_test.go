package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// hostile is markup a build argument and a package carry: every page must
// show it as text.
const hostile = `<script>alert("pwned")</script>`

type fixture struct {
	ctx            context.Context
	host           string
	cfg            *config.Config
	keys           []attest.TrustedKey
	trusted, rogue signature.SignerVerifier
	// base: A built, promoted to staging and prod; B built and promoted to
	// staging. ami: a machine-image record in dev. rogue: signed by an
	// untrusted key, in dev.
	imageA, imageB, record, rogueImage name.Digest
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background()}
	f.host = bakerytest.NewRegistry(t).Host
	dir := t.TempDir()
	signer := func(n string) signature.SignerVerifier {
		priv, _, err := attest.GenerateKeys(filepath.Join(dir, n), nil)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := attest.LoadSigner(f.ctx, priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}
	f.trusted, f.rogue = signer("trusted"), signer("rogue")
	var err error
	if f.keys, err = attest.NewTrustedKeys(f.ctx, []string{filepath.Join(dir, "trusted.pub")}); err != nil {
		t.Fatal(err)
	}
	env := func(n string) config.Environment {
		return config.Environment{Name: n, Repository: f.host + "/" + n, Tag: config.DefaultTagTemplate, Insecure: true}
	}
	f.cfg = &config.Config{File: "bakery.yaml",
		Targets: map[string]*config.Target{
			"base": {Name: "base", Type: config.TypeContainer,
				Tests: []config.Test{{Name: "structure", File: "structure.yaml"}, {Name: "smoke", External: true}}},
			"rogue": {Name: "rogue", Type: config.TypeContainer},
			"ami":   {Name: "ami", Type: config.TypePacker},
		},
		Environments: []config.Environment{env("dev"), env("staging"), env("prod")},
	}
	return f
}

// debianImage is a linux/amd64 image whose dpkg database lists pkgs
// (name → version), each with a copyright file naming its license.
func debianImage(t *testing.T, pkgs map[string]string) v1.Image {
	t.Helper()
	licenses := map[string]string{"hello": "GPL-3.0-or-later", "openssl": "Apache-2.0", "curl": "curl"}
	files := map[string][]byte{"etc/os-release": []byte("ID=debian\nVERSION_ID=\"12\"\n")}
	var status strings.Builder
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for k := range pkgs {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1\n"+
			"Maintainer: Example <m@example.com>\nArchitecture: amd64\nVersion: %s\nDescription: %s\n\n", n, pkgs[n], n)
		files["usr/share/doc/"+n+"/copyright"] = []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: " + licenses[n] + "\n")
	}
	files["var/lib/dpkg/status"] = []byte(status.String())
	img, err := crane.Image(files)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func (f *fixture) repo(t *testing.T, env, target string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(f.host + "/" + env + "/" + target)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) push(t *testing.T, env, target string, img v1.Image) name.Digest {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := f.repo(t, env, target).Digest(d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// build attests ref as bakery build does, signs its build receipt and
// points dev's tag at it.
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

func (f *fixture) tag(t *testing.T, ref name.Digest, tag string) {
	t.Helper()
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(ref.Context().Tag(tag), desc); err != nil {
		t.Fatal(err)
	}
}

// promote copies ref from the previous environment with its signatures and
// attestations, signs env's receipt and moves env's tag, as bakery
// promote does.
func (f *fixture) promote(t *testing.T, ref name.Digest, target, from, env string) name.Digest {
	t.Helper()
	dst := f.repo(t, env, target).Digest(ref.DigestStr())
	hex := "sha256-" + strings.TrimPrefix(ref.DigestStr(), "sha256:")
	for _, suffix := range []string{"@" + ref.DigestStr(), ":" + hex + ".sig", ":" + hex + ".att"} {
		if err := crane.Copy(ref.Context().String()+suffix, dst.Context().String()+suffix, crane.Insecure); err != nil {
			t.Fatal(err)
		}
	}
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: target, Environment: env, From: from,
		Policies: []string{"signed", "sbom", "provenance", "promoted_through"}}
	if err := receipt.Sign(f.ctx, f.trusted, dst, meta, "sha256:"+strings.Repeat("ab", 32), "test", nil); err != nil {
		t.Fatal(err)
	}
	f.tag(t, dst, env)
	return dst
}

func (f *fixture) populate(t *testing.T) {
	t.Helper()
	started := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	inv := &builders.Invocation{StartedOn: started, FinishedOn: started.Add(time.Minute),
		ExternalParameters: builders.Parameters{Container: &builders.ContainerParameters{
			Source: &builders.Source{URI: "git+https://git.example/golden.git", Commit: "0123456789abcdef"},
			Args:   map[string]string{"LABEL": hostile, "BASE": "debian:bookworm"},
			Target: builders.TargetSettings{Name: "base", Secrets: []builders.SecretRef{{ID: "npmrc", Source: "file"}}},
		}},
		ResolvedDependencies: []builders.Dependency{{URI: "pkg:docker/debian@bookworm", Digest: map[string]string{"sha256": strings.Repeat("cd", 32)}}},
	}
	f.imageA = f.push(t, "dev", "base", debianImage(t, map[string]string{"hello": "2.10-3", "openssl": "3.0.11-1~deb12u1", hostile: "1.0"}))
	f.build(t, f.trusted, f.imageA, "base", builders.Result{Kind: builders.Container, Invocation: inv})
	inStaging := f.promote(t, f.imageA, "base", "dev", "staging")
	inProd := f.promote(t, inStaging, "base", "staging", "prod")
	f.attachRogueSBOM(t, inProd)

	f.imageB = f.push(t, "dev", "base", debianImage(t, map[string]string{"hello": "2.10-3", "openssl": "3.0.11-1~deb12u2", "curl": "7.88.1-10"}))
	f.build(t, f.trusted, f.imageB, "base", builders.Result{Kind: builders.Container, Invocation: inv})
	// B's tests: structure PASSED at build, carried along by the
	// promotion; smoke FAILED in staging, after a PASSED it withdraws; a
	// FAILED signed by the rogue key, which counts for nothing.
	f.attachTest(t, f.trusted, f.imageB, "structure", "linux/amd64", "", started)
	bInStaging := f.promote(t, f.imageB, "base", "dev", "staging")
	f.attachTest(t, f.trusted, bInStaging, "smoke", "", "staging", started.Add(time.Hour))
	f.attachTest(t, f.trusted, bInStaging, "smoke", "", "staging", started.Add(2*time.Hour), "login <works>")
	f.attachTest(t, f.rogue, bInStaging, "structure", "linux/amd64", "", started.Add(3*time.Hour), "forged")

	spdx, err := sbom.Generate(f.ctx, f.imageA, "linux/amd64", sbom.Identity{Version: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &machineimage.Record{Target: "ami", Platform: "linux/amd64", AMIs: map[string]string{"eu-west-1": "ami-0built"}}
	if f.record, _, err = machineimage.Push(f.ctx, f.repo(t, "dev", "ami"), rec); err != nil {
		t.Fatal(err)
	}
	f.build(t, f.trusted, f.record, "ami", builders.Result{Kind: builders.MachineImage, SBOM: spdx.SPDX})

	f.rogueImage = f.push(t, "dev", "rogue", debianImage(t, map[string]string{"hello": "2.10-3"}))
	f.build(t, f.rogue, f.rogueImage, "rogue", builders.Result{Kind: builders.Container})
}

// attachTest attaches a test result of base's suite, signed with signer.
func (f *fixture) attachTest(t *testing.T, signer signature.SignerVerifier, ref name.Digest, suite, platform, env string, finished time.Time, failed ...string) {
	t.Helper()
	st, err := attesttest.TestResult(ref, ref, "base", suite, platform, env, finished, failed...)
	if err != nil {
		t.Fatal(err)
	}
	if err := attest.Attach(f.ctx, signer, ref, []attest.Statement{st}); err != nil {
		t.Fatal(err)
	}
}

// attachRogueSBOM attaches to ref an SPDX document signed by the untrusted
// key: verification ignores it, and the report must show it ignored.
func (f *fixture) attachRogueSBOM(t *testing.T, ref name.Digest) {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{"spdxVersion": "SPDX-2.3", "packages": []map[string]any{{"name": "backdoor", "versionInfo": "1"}}})
	st := attest.Statement{PredicateType: attest.PredicateSPDX, Subjects: []attest.Subject{attest.SubjectOf(ref)}, Predicate: doc}
	if err := attest.Attach(f.ctx, f.rogue, ref, []attest.Statement{st}); err != nil {
		t.Fatal(err)
	}
}

func cellOf(t *testing.T, r *Report, target, env string) Cell {
	t.Helper()
	for _, c := range r.Cells {
		if c.Target == target && c.Environment == env {
			return c
		}
	}
	t.Fatalf("no cell for %s in %s", target, env)
	return Cell{}
}

func digestOf(t *testing.T, r *Report, target, digest string) *Digest {
	t.Helper()
	for i := range r.Digests {
		if r.Digests[i].Target == target && r.Digests[i].Digest == digest {
			return &r.Digests[i]
		}
	}
	t.Fatalf("no digest page for %s %s", target, digest)
	return nil
}

func TestReport(t *testing.T) {
	f := newFixture(t)
	f.populate(t)
	// A, which prod runs, is revoked, for a reason that carries markup.
	rev := revoke.Entry{Digest: f.imageA.DigestStr(), Action: revoke.ActionRevoke, Target: "base", Reason: revokeReason,
		Time: "2026-11-02T00:00:00Z", EffectiveAt: "2026-11-02T00:00:00Z", By: f.keys[0].ID}
	if err := revoke.Write(f.ctx, f.cfg, f.trusted, attest.Trusting(f.keys), []revoke.Entry{rev}); err != nil {
		t.Fatal(err)
	}
	r, err := Gather(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := Write(dir, r, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the matrix", func(t *testing.T) { checkMatrix(t, f, r) })
	t.Run("a digest page's data", func(t *testing.T) { checkDigest(t, f, r) })
	t.Run("what failed verification is kept, in red", func(t *testing.T) { checkUnverified(t, f, r, dir) })
	t.Run("the HTML", func(t *testing.T) { checkHTML(t, f, r, w) })
	t.Run("a revoked digest, in red", func(t *testing.T) { checkRevoked(t, f, r, w) })
	t.Run("each digest's test evidence", func(t *testing.T) { checkTests(t, f, r, w) })
	t.Run("report.json holds the same data", func(t *testing.T) {
		var back Report
		if err := json.Unmarshal([]byte(readFile(t, w.JSON)), &back); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		got, _ := json.Marshal(&back)
		if string(got) != string(want) {
			t.Errorf("report.json does not decode to the report:\n%s\nwant\n%s", got, want)
		}
	})
}

func checkMatrix(t *testing.T, f *fixture, r *Report) {
	if !slices.Equal(r.Targets, []string{"ami", "base", "rogue"}) || !slices.Equal(r.Environments, []string{"dev", "staging", "prod"}) || len(r.Cells) != 9 {
		t.Fatalf("targets %v, environments %v, %d cells", r.Targets, r.Environments, len(r.Cells))
	}
	for _, want := range []struct {
		target, env, digest, kind, action string
		verified                          bool
	}{
		{"base", "dev", f.imageB.DigestStr(), "container", "build", true},
		{"base", "staging", f.imageB.DigestStr(), "container", "promote", true},
		// A is revoked: one verdict, so not verified (and shown revoked).
		{"base", "prod", f.imageA.DigestStr(), "container", "promote", false},
		{"ami", "dev", f.record.DigestStr(), "machine-image", "build", true},
		{"ami", "prod", "", "", "", false},
		{"rogue", "dev", f.rogueImage.DigestStr(), "container", "", false},
	} {
		c := cellOf(t, r, want.target, want.env)
		if c.Digest != want.digest || c.Kind != want.kind || c.Action != want.action || c.Verified != want.verified {
			t.Errorf("%s in %s: digest %s kind %q action %q verified %v; want %s %q %q %v", want.target, want.env,
				c.Digest, c.Kind, c.Action, c.Verified, want.digest, want.kind, want.action, want.verified)
		}
		if (want.verified || c.Revoked != nil) && (c.Signer != f.keys[0].ID || !c.Receipt || c.Age == "" || c.Page == "" || c.Drift) {
			t.Errorf("%s in %s: signer %q receipt %v age %q page %q drift %v", want.target, want.env, c.Signer, c.Receipt, c.Age, c.Page, c.Drift)
		}
	}
	if c := cellOf(t, r, "ami", "dev"); c.AMIs["eu-west-1"] != "ami-0built" {
		t.Errorf("ami in dev: AMIs %v", c.AMIs)
	}
	if c := cellOf(t, r, "base", "staging"); c.Previous != f.imageA.DigestStr() || len(c.History) != 2 {
		t.Errorf("base in staging: previous %s, %d history entries; want A and 2", c.Previous, len(c.History))
	}
	if c := cellOf(t, r, "base", "dev"); c.Previous != f.imageA.DigestStr() {
		t.Errorf("base in dev: previous %s, want A", c.Previous)
	}
}

func checkDigest(t *testing.T, f *fixture, r *Report) {
	a := digestOf(t, r, "base", f.imageA.DigestStr())
	if a.Verified || a.Revoked == nil || !slices.Equal(a.Environments, []string{"prod"}) || !strings.Contains(a.Reference, "/prod/base@") {
		t.Errorf("A: verified %v in %v at %s", a.Verified, a.Environments, a.Reference)
	}
	var chain []string
	for _, rc := range a.Receipts {
		chain = append(chain, fmt.Sprintf("%s %s from %q %s %s", rc.Environment, rc.Action, rc.From, strings.Join(rc.Policies, ","), rc.Result))
	}
	want := []string{`dev build from ""  PASSED`, `staging promote from "dev" signed,sbom,provenance,promoted_through PASSED`,
		`prod promote from "staging" signed,sbom,provenance,promoted_through PASSED`}
	if !slices.Equal(chain, want) {
		t.Errorf("A's receipt chain:\n%s\nwant:\n%s", strings.Join(chain, "\n"), strings.Join(want, "\n"))
	}
	p := a.Provenance
	if p == nil || p.BuilderID != "https://builder.test" || p.Source == nil || p.Source.Commit != "0123456789abcdef" ||
		p.Args["LABEL"] != hostile || len(p.Secrets) != 1 || p.Secrets[0].ID != "npmrc" || len(p.Bases) != 1 || p.StartedOn != "2026-11-01T10:00:00Z" {
		t.Errorf("A's provenance: %+v", p)
	}
	if len(a.Platforms) != 1 || a.Platforms[0].Platform != "linux/amd64" || !a.Platforms[0].SBOM || a.Size <= 0 || a.Platforms[0].Size != a.Size {
		t.Errorf("A's platforms %+v, size %d", a.Platforms, a.Size)
	}
	names := map[string]string{}
	for _, pkg := range a.Platforms[0].Packages {
		names[pkg.Name] = pkg.Version
	}
	if names["openssl"] != "3.0.11-1~deb12u1" || names[hostile] != "1.0" {
		t.Errorf("A's packages: %v", names)
	}
	if lic := a.Platforms[0].Licenses; !slices.Contains(lic, Count{Name: "Apache-2.0", N: 1}) {
		t.Errorf("A's licenses: %v", lic)
	}
	b := digestOf(t, r, "base", f.imageB.DigestStr())
	if !slices.Equal(b.Environments, []string{"dev", "staging"}) || len(b.Deltas) != 2 {
		t.Fatalf("B: in %v with %d deltas", b.Environments, len(b.Deltas))
	}
	for _, d := range b.Deltas {
		if d.Delta == nil || d.Delta.Against != f.imageA.DigestStr() || len(d.Delta.Added) != 1 || d.Delta.Added[0].Name != "curl" ||
			len(d.Delta.Removed) != 1 || d.Delta.Removed[0].Name != hostile || len(d.Delta.Changed) != 1 || d.Delta.Changed[0].Name != "openssl" {
			t.Errorf("B's delta in %s: %+v (%s)", d.Environment, d.Delta, d.Problem)
		}
	}
	rec := digestOf(t, r, "ami", f.record.DigestStr())
	if rec.Kind != "machine-image" || len(rec.Platforms) != 1 || rec.Platforms[0].Platform != "linux/amd64" || len(rec.Platforms[0].Packages) == 0 {
		t.Errorf("the record: kind %s, platforms %+v", rec.Kind, rec.Platforms)
	}
}

func checkUnverified(t *testing.T, f *fixture, r *Report, dir string) {
	rogue := digestOf(t, r, "rogue", f.rogueImage.DigestStr())
	if rogue.Verified || len(rogue.Problems) == 0 || !strings.Contains(strings.Join(rogue.Problems, " "), "trusted key") {
		t.Errorf("rogue: verified %v, problems %v", rogue.Verified, rogue.Problems)
	}
	// The revoked A counts as a failure, as everywhere (one verdict).
	if got := r.Unverified(); len(got) != 2 || !strings.HasPrefix(got[0], "base in prod") || !strings.HasPrefix(got[1], "rogue in dev") {
		t.Errorf("unverified %v", got)
	}
	a := digestOf(t, r, "base", f.imageA.DigestStr())
	ignored := slices.IndexFunc(a.Attestations, func(at Attestation) bool { return !at.Verified })
	if ignored < 0 || a.Attestations[ignored].Reason == "" || a.Attestations[ignored].PredicateType != attest.PredicateSPDX {
		t.Fatalf("A in prod carries an SBOM the rogue key signed; attestations %+v", a.Attestations)
	}
	page := readFile(t, filepath.Join(dir, a.Page))
	row := regexp.MustCompile(`<tr class="bad"><td class="mono">spdxjson</td>[^\n]*\n[^\n]*ignored</span> ([^<]*)</td>`).FindStringSubmatch(page)
	if row == nil || !strings.Contains(row[1], attestReasonWord(a.Attestations[ignored].Reason)) {
		t.Errorf("A's page does not show the ignored SBOM in a red row with its reason")
	}
	index := readFile(t, filepath.Join(dir, "index.html"))
	cell := regexp.MustCompile(`(?s)<tr data-target="rogue">.*?<td data-env="dev" class="([^"]*)">(.*?)</td>`).FindStringSubmatch(index)
	if cell == nil || cell[1] != "bad" || !strings.Contains(cell[2], "not verified") || !strings.Contains(cell[2], shortHex(f.rogueImage.DigestStr(), 12)) {
		t.Errorf("the rogue cell is not shown red and unverified: %v", cell)
	}
	if m := regexp.MustCompile(`class="meta">(\d+) (targets?) × (\d+) (environments?) `).FindStringSubmatch(index); m == nil ||
		(m[1] == "1") != (m[2] == "target") || (m[3] == "1") != (m[4] == "environment") {
		t.Errorf("the header does not count targets and environments in words: %v", m)
	}
	if !strings.Contains(index, `id="unverified"`) || !strings.Contains(index, "rogue in dev") {
		t.Error("the overview does not list what failed verification")
	}
	rp := readFile(t, filepath.Join(dir, rogue.Page))
	if !strings.Contains(rp, `<span class="badge b-bad" id="verdict">failed verification</span>`) || !strings.Contains(rp, `id="problems"`) {
		t.Error("the rogue digest's page does not say it failed verification")
	}
}

// attestReasonWord is the first word of a reason, as html/template writes
// it (escaping changes quotes, not words).
func attestReasonWord(reason string) string {
	w, _, _ := strings.Cut(reason, " ")
	return w
}

var external = regexp.MustCompile(`(?i)(src|href|action|xlink:href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?\s*(https?:|//)|@import`)

func checkHTML(t *testing.T, f *fixture, r *Report, w *Written) {
	files := append([]string{w.Index}, w.Pages...)
	if len(w.Pages) != len(r.Digests) || len(r.Digests) != 4 {
		t.Errorf("%d pages for %d digests, want 4", len(w.Pages), len(r.Digests))
	}
	for _, p := range files {
		page := readFile(t, p)
		if strings.Contains(page, hostile) || strings.Contains(page, `alert("pwned")`) {
			t.Errorf("%s: the hostile string is written as markup", filepath.Base(p))
		}
		if m := external.FindString(page); m != "" {
			t.Errorf("%s refers to something outside the file: %s", filepath.Base(p), m)
		}
		if strings.Count(page, "<script>") != 1 || !strings.Contains(page, "Content-Security-Policy") {
			t.Errorf("%s: want exactly the one inline script, under a CSP that fetches nothing", filepath.Base(p))
		}
	}
	a := readFile(t, filepath.Join(w.Dir, digestOf(t, r, "base", f.imageA.DigestStr()).Page))
	for _, want := range []string{
		"LABEL=&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;",    // the build argument, escaped
		"<td>&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;</td>", // the package, escaped
		`<table class="sortable sbom" id="sbom-0">`, `data-table="sbom-0"`,
		"npmrc", "0123456789abcdef", "pkg:docker/debian@bookworm",
		`<span class="badge b-kind">promoted_through</span>`, "<svg",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("A's page lacks %s", want)
		}
	}
	index := readFile(t, w.Index)
	c := cellOf(t, r, "base", "prod")
	if !strings.Contains(index, `href="`+c.Page+`"`) || !strings.Contains(index, "receipt: promote") || !strings.Contains(index, "aria-label=\"promotions of base\"") {
		t.Error("the overview lacks base's prod cell link, its receipt or the promotions timeline")
	}
	if !strings.Contains(index, "eu-west-1=ami-0built") {
		t.Error("the overview lacks the machine image's AMIs")
	}
}

// checkTests: each digest's page and report.json carry its test evidence
// as every command computes it (promote.Tests), the newest result per
// suite, platform and environment, failed tests named (escaped); a result
// signed by an untrusted key is not evidence; the overview shows each
// digest's and each cell's summary.
func checkTests(t *testing.T, f *fixture, r *Report, w *Written) {
	b := digestOf(t, r, "base", f.imageB.DigestStr())
	var got []string
	for _, e := range b.Tests {
		got = append(got, fmt.Sprintf("%s %s %q %s %s %v", e.Suite, e.Platform, e.Environment, e.Result, e.Finished, e.Failed))
	}
	want := []string{`smoke  "staging" FAILED 2026-11-01T12:00:00Z [login <works>]`, `structure linux/amd64 "" PASSED 2026-11-01T10:00:00Z []`}
	if !slices.Equal(got, want) || b.TestSummary != "1 FAILED" || !slices.Equal(b.Suites, []string{"structure", "smoke"}) {
		t.Errorf("B's tests:\n%s\nwant:\n%s\nsummary %q, suites %v", strings.Join(got, "\n"), strings.Join(want, "\n"), b.TestSummary, b.Suites)
	}
	if a := digestOf(t, r, "base", f.imageA.DigestStr()); len(a.Tests) != 0 || a.TestSummary != "untested" {
		t.Errorf("A: tests %+v, summary %q; want none, untested", a.Tests, a.TestSummary)
	}
	if rec := digestOf(t, r, "ami", f.record.DigestStr()); rec.Tests == nil || len(rec.Tests) != 0 || rec.TestSummary != "" {
		t.Errorf("the record (no suite): tests %#v, summary %q", rec.Tests, rec.TestSummary)
	}
	if c := cellOf(t, r, "base", "dev"); promote.TestSummary(c.Tests, c.Suites) != "1/2 passed" {
		t.Errorf("base in dev (structure passed, smoke not run there): %+v", c.Tests)
	}
	page := readFile(t, filepath.Join(w.Dir, b.Page))
	for _, want := range []string{
		`<span class="badge b-bad">1 FAILED</span>`,
		`<tr data-suite="smoke" data-platform="" data-env="staging" data-result="FAILED" class="bad">`,
		`<div class="failed-test">login &lt;works&gt;</div>`,
		`<tr data-suite="structure" data-platform="linux/amd64" data-env="" data-result="PASSED"><td>structure</td><td>linux/amd64</td><td>build</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("B's page lacks %s", want)
		}
	}
	if strings.Contains(page, "forged") || strings.Count(page, "<tr data-suite=") != 2 {
		t.Error("B's page shows a result that is not evidence")
	}
	index := readFile(t, w.Index)
	for _, want := range []string{`<td class="tests"><span class="badge b-bad">1 FAILED</span></td>`, `<span class="badge b-warn tests">tests: 1/2 passed</span>`,
		`<span class="badge b-bad tests">tests: 1 FAILED</span>`} {
		if !strings.Contains(index, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
}

// revokeReason is a revocation's reason, with markup in it.
const revokeReason = `CVE-2026-0001 <img src=x onerror=alert(1)>`

func checkRevoked(t *testing.T, f *fixture, r *Report, w *Written) {
	c := cellOf(t, r, "base", "prod")
	if c.Revoked == nil || c.Revoked.Reason != revokeReason || c.RollbackTo != "" || c.Verified {
		t.Fatalf("base in prod: revoked %+v, rollback to %q, verified %v", c.Revoked, c.RollbackTo, c.Verified)
	}
	if len(r.Revocations) != 1 || r.Revocations[0].Digest != f.imageA.DigestStr() || len(r.RevocationProblems) != 0 {
		t.Errorf("revocations %+v, problems %v", r.Revocations, r.RevocationProblems)
	}
	index := readFile(t, w.Index)
	cell := regexp.MustCompile(`(?s)<tr data-target="base">.*?<td data-env="prod" class="([^"]*)">(.*?)</td>`).FindStringSubmatch(index)
	escaped := "CVE-2026-0001 &lt;img src=x onerror=alert(1)&gt;"
	if cell == nil || cell[1] != "bad" || !strings.Contains(cell[2], `<span class="bad">revoked: `+escaped) {
		t.Errorf("the revoked prod cell is not red with its reason: %v", cell)
	}
	if !strings.Contains(index, `<table class="sortable" id="revocations">`) || strings.Contains(index, "<img") {
		t.Error("the overview lacks the revocations table, or writes the reason as markup")
	}
	page := readFile(t, filepath.Join(w.Dir, c.Page))
	if !strings.Contains(page, `<span class="badge b-bad">revoked</span>`) || !strings.Contains(page, escaped) || strings.Contains(page, "<img") {
		t.Error("A's page does not say, escaped, that it is revoked")
	}
}

func TestGatherBadInput(t *testing.T) {
	f := newFixture(t)
	for _, o := range []Options{{Targets: []string{"nope"}}, {Environments: []string{"qa"}}} {
		o.Config, o.Verifier = f.cfg, attest.Trusting(f.keys)
		if _, err := Gather(f.ctx, o); failure.ClassOf(err) != failure.Config {
			t.Errorf("%+v: %v, want a config error", o.Targets, err)
		}
	}
	if _, err := Write(filepath.Join(readOnlyFile(t), "out"), &Report{}, "test"); failure.ClassOf(err) != failure.Config {
		t.Errorf("an --out under a file: %v, want a config error", err)
	}
}

// readOnlyFile is a file, under which no directory can be made.
func readOnlyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportWithAnEnvironmentDown: with staging's registry gone
// (connections refused), the report holds dev and prod, names staging as
// unreachable (in the data and the overview), and comes with the partial
// answer's exit-6 error naming staging.
func TestReportWithAnEnvironmentDown(t *testing.T) {
	f := newFixture(t)
	f.populate(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there any more
	f.cfg.Environments[1].Repository = strings.TrimPrefix(dead.URL, "http://") + "/staging"

	r, err := Gather(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys)})
	if r == nil || failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "environment staging (") {
		t.Fatalf("report %v, error %v; want a partial report and an outage naming staging", r, err)
	}
	if len(r.Unreachable) != 1 || r.Unreachable[0].Environment != "staging" || r.Unreachable[0].Repository != f.cfg.Environments[1].Repository {
		t.Errorf("unreachable %+v, want staging alone", r.Unreachable)
	}
	for _, c := range r.Cells {
		if (c.Environment == "staging") != (c.Unreachable != "") {
			t.Errorf("%s in %s: unreachable %q", c.Target, c.Environment, c.Unreachable)
		}
	}
	if c := cellOf(t, r, "base", "prod"); c.Digest != f.imageA.DigestStr() || len(c.History) != 1 {
		t.Errorf("base in prod: %s with %d history entries, want A and its one receipt", c.Digest, len(c.History))
	}
	if c := cellOf(t, r, "base", "dev"); c.Digest != f.imageB.DigestStr() {
		t.Errorf("base in dev: %s, want B", c.Digest)
	}
	digestOf(t, r, "base", f.imageA.DigestStr())
	digestOf(t, r, "base", f.imageB.DigestStr())

	w, err := Write(t.TempDir(), r, "test")
	if err != nil {
		t.Fatal(err)
	}
	index := readFile(t, w.Index)
	if !strings.Contains(index, `id="unreachable"`) || !strings.Contains(index, "<li>staging ("+f.cfg.Environments[1].Repository+")") ||
		strings.Count(index, ">UNREACHABLE</span>") != 3 {
		t.Errorf("the overview does not name staging as unreachable in its banner and its 3 cells")
	}

	// Asked only about prod, the report is whole.
	if _, err := Gather(f.ctx, Options{Config: f.cfg, Verifier: attest.Trusting(f.keys), Environments: []string{"prod"}}); err != nil {
		t.Errorf("a report of prod alone: %v", err)
	}
}
