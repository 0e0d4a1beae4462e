package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	cosignmutate "github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// fixture is a source site (dev and prod on one in-process registry) whose
// app was built and promoted to prod, and an air-gapped site (prod on
// another registry) that trusts the same key.
type fixture struct {
	ctx               context.Context
	srcRegistry       *countingRegistry
	src, site         *config.Config
	signer, other     signature.SignerVerifier
	keys, otherKeys   []attest.TrustedKey
	digest            name.Digest
	bundle            string
	siteHost, srcHost string
	engine            *policies.Engine
}

// countingRegistry is an in-process registry that counts blob GETs.
type countingRegistry struct {
	*httptest.Server
	host string
	mu   sync.Mutex
	gets map[string]int
}

func newRegistry(t testing.TB) *countingRegistry {
	t.Helper()
	c := &countingRegistry{gets: map[string]int{}}
	inner := bakerytest.Handler()
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			c.mu.Lock()
			c.gets[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			c.mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(c.Close)
	c.host = strings.TrimPrefix(c.URL, "http://")
	return c
}

// reads returns the blob GETs so far and starts counting again.
func (c *countingRegistry) reads() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.gets
	c.gets = map[string]int{}
	return out
}

func keyPair(t testing.TB, ctx context.Context, prefix string) (signature.SignerVerifier, []attest.TrustedKey) {
	t.Helper()
	priv, pub, err := attest.GenerateKeys(prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	return s, keys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background()}
	f.srcRegistry = newRegistry(t)
	f.srcHost, f.siteHost = f.srcRegistry.host, newRegistry(t).host
	dir := t.TempDir()
	f.signer, f.keys = keyPair(t, f.ctx, filepath.Join(dir, "trusted"))
	f.other, f.otherKeys = keyPair(t, f.ctx, filepath.Join(dir, "other"))
	prodPolicies := []string{"signed", "sbom", "provenance", "promoted_through"}
	f.src = &config.Config{
		File:    "bakery.yaml",
		Targets: map[string]*config.Target{"app": {Name: "app", Type: config.TypeContainer}},
		Environments: []config.Environment{
			{Name: "dev", Repository: f.srcHost + "/dev", Tag: config.DefaultTagTemplate, Insecure: true},
			{Name: "prod", Repository: f.srcHost + "/prod", Tag: config.DefaultTagTemplate, Insecure: true, Policies: prodPolicies},
		},
		Policy: config.Policy{AllowedBuilders: []string{"https://builder.test"}},
	}
	f.site = &config.Config{
		File:         "site.yaml",
		Targets:      f.src.Targets,
		Environments: []config.Environment{{Name: "prod", Repository: f.siteHost + "/site", Tag: config.DefaultTagTemplate, Insecure: true}},
		Policy:       f.src.Policy,
	}
	f.digest = f.build(t, "amd64", "arm64")
	engine, err := policies.Compile(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.engine = engine
	p := promote.New(promote.Options{Config: f.src, Verifier: attest.Trusting(f.keys), Signer: attest.ReadySigner(f.signer), Policies: engine, Version: "test"})
	if _, err := p.Promote(f.ctx, promote.Request{Target: "app", To: "prod"}); err != nil {
		t.Fatal(err)
	}
	f.bundle = filepath.Join(dir, "bundle.tar")
	if _, err := f.export(t, f.bundle); err != nil {
		t.Fatal(err)
	}
	return f
}

// build pushes a multi-platform index to dev, attested and signed as bakery
// build does, with its build receipt, and tags it dev.
func (f *fixture) build(t testing.TB, archs ...string) name.Digest {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range archs {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, _ := idx.Digest()
	repo, _ := name.NewRepository(f.srcHost+"/dev/app", name.Insecure)
	ref := repo.Digest(d.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	att := attest.New(attest.Options{Signer: f.signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := att.Attest(f.ctx, ref, builders.Result{Target: "app", Kind: builders.Container}); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, f.signer, ref, "app", "dev", "test"); err != nil {
		t.Fatal(err)
	}
	desc, _ := remote.Get(ref)
	if err := remote.Tag(repo.Tag("dev"), desc); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *fixture) export(t testing.TB, path string) (*ExportResult, error) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	return Export(f.ctx, out, ExportOptions{Config: f.src, Target: "app", Env: "prod", Keys: f.keys, Signer: f.signer, Version: "test"})
}

// verify opens and verifies path with keys.
func verify(ctx context.Context, path string, keys []attest.TrustedKey, env string) (*Result, error) {
	b, err := Open(path, keys)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return Verify(ctx, b, VerifyOptions{Keys: keys, Env: env})
}

func TestExportReadsAndWritesEachBlobOnce(t *testing.T) {
	f := newFixture(t)
	f.srcRegistry.reads()
	path := filepath.Join(t.TempDir(), "again.tar")
	res, err := f.export(t, path)
	if err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, path)
	m, _ := manifestOf(t, entries)
	reads := f.srcRegistry.reads()
	for _, b := range m.Blobs {
		if b.What == "config" || b.What == "layer" {
			if reads[b.Digest] != 1 {
				t.Errorf("%s read %d times", b.describe(), reads[b.Digest])
			}
			delete(reads, b.Digest)
		}
	}
	if len(reads) > 0 {
		t.Errorf("blobs read that the bundle does not hold: %v", reads)
	}
	var sum int64
	for n, body := range entries {
		if strings.HasPrefix(n, "blobs/") {
			sum += int64(len(body))
		}
	}
	if res.Bytes != sum || res.Blobs != len(entries)-2 {
		t.Fatalf("wrote %d bytes in %d blobs; the tar has %d bytes of blobs in %d entries", res.Bytes, res.Blobs, sum, len(entries))
	}
	roles := map[string]bool{}
	for _, o := range res.Objects {
		roles[o.Role] = true
	}
	if !roles[RoleImage] || !roles[RoleSignatures] || !roles[RoleAttestations] || res.Digest != f.digest.DigestStr() {
		t.Fatalf("objects %+v digest %s", res.Objects, res.Digest)
	}
}

func TestVerifyOffline(t *testing.T) {
	f := newFixture(t)
	f.srcRegistry.Close() // the source is out of reach: only the bundle is read
	res, err := verify(f.ctx, f.bundle, f.keys, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != f.digest.DigestStr() || res.Environment != "prod" || res.Policies != "bundle" || !res.Decision.Allowed || len(res.Report.Platforms) != 2 {
		t.Fatalf("result %+v", res)
	}
	// Each environment on its path verifies too, with its own receipt.
	if _, err := verify(f.ctx, f.bundle, f.keys, "dev"); err != nil {
		t.Fatal(err)
	}
	_, err = verify(f.ctx, f.bundle, f.keys, "staging")
	if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "no verified receipt for app in staging") {
		t.Fatalf("staging: %v", err)
	}
}

// TestVerifyTrustsOnlyItsOwnKeys: a verifier that trusts another key
// refuses the bundle, whatever keys the bundle carries.
func TestVerifyTrustsOnlyItsOwnKeys(t *testing.T) {
	f := newFixture(t)
	_, err := verify(f.ctx, f.bundle, f.otherKeys, "")
	if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "not signed by a trusted key") {
		t.Fatalf("err = %v", err)
	}
}

// TestVerifyRefusesTamperedBundles: each forgery fails with exit 4 and a
// message naming what is wrong.
func TestVerifyRefusesTamperedBundles(t *testing.T) {
	f := newFixture(t)
	entries := readTar(t, f.bundle)
	m, idx := manifestOf(t, entries)
	var layer, sig Blob
	for _, b := range m.Blobs {
		if b.What == "layer" && b.Of == RoleImage {
			layer = b
		}
		if b.What == "manifest" && b.Of == RoleSignatures {
			sig = b
		}
	}
	cases := []struct {
		name   string
		tamper func(map[string][]byte)
		want   string
	}{
		{"truncated", nil, "truncated"},
		{"byte flipped in a layer", func(e map[string][]byte) {
			body := e[blobPath(layer.Digest)]
			body[len(body)/2] ^= 1
		}, layer.Digest + " of image does not match its digest"},
		{"manifest swapped in index.json", func(e map[string][]byte) {
			for i, d := range idx.Manifests {
				if d.Annotations[AnnotationRole] == RoleSignatures {
					idx.Manifests[i].Digest, _ = v1.NewHash(m.Digest)
				}
			}
			e["index.json"], _ = json.Marshal(idx)
		}, "index.json names signatures " + m.Digest},
		{"foreign signature added", func(e map[string][]byte) {
			addForeignSignature(t, f, e, idx, sig)
		}, "index.json names signatures"},
		{"manifest re-signed by another key", func(e map[string][]byte) {
			for i, d := range idx.Manifests {
				if d.MediaType == MediaType {
					body := e[blobPath(d.Digest.String())]
					idx.Manifests[i].Annotations[AnnotationSignature], _ = signManifest(f.other, body)
				}
			}
			e["index.json"], _ = json.Marshal(idx)
		}, "is not signed by a trusted key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "forged.tar")
			if c.tamper == nil {
				raw, _ := os.ReadFile(f.bundle)
				if err := os.WriteFile(path, raw[:len(raw)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				e := readTar(t, f.bundle)
				_, idx = manifestOf(t, e)
				c.tamper(e)
				writeTar(t, path, e)
			}
			_, err := verify(f.ctx, path, f.keys, "")
			if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %v), want %q", err, failure.ClassOf(err), c.want)
			}
		})
	}
}

// addForeignSignature replaces the signatures manifest by one that also
// carries a signature by another key, as an attacker with the bundle would.
func addForeignSignature(t *testing.T, f *fixture, e map[string][]byte, idx *v1.IndexManifest, sig Blob) {
	t.Helper()
	var mf v1.Manifest
	if err := json.Unmarshal(e[blobPath(sig.Digest)], &mf); err != nil {
		t.Fatal(err)
	}
	payload := e[blobPath(mf.Layers[0].Digest.String())]
	forged, err := f.other.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	l := mf.Layers[0]
	l.Annotations = map[string]string{"dev.cosignproject.cosign/signature": string(forged)}
	mf.Layers = append(mf.Layers, l)
	body, _ := json.Marshal(mf)
	d := digestOf(body)
	e[blobPath(d)] = body
	for i, desc := range idx.Manifests {
		if desc.Annotations[AnnotationRole] == RoleSignatures {
			idx.Manifests[i].Digest, _ = v1.NewHash(d)
			idx.Manifests[i].Size = int64(len(body))
		}
	}
	e["index.json"], _ = json.Marshal(idx)
}

func TestImport(t *testing.T) {
	f := newFixture(t)
	b, err := Open(f.bundle, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: f.site, Env: "prod", Keys: f.keys, Signer: f.signer, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Receipt || !res.Copy.ImageCopied || res.Copy.Signatures != 1 || res.Destination != f.siteHost+"/site/app@"+f.digest.DigestStr() {
		t.Fatalf("result %+v", res)
	}
	// Verifying and then copying read each blob of the bundle once.
	for _, bl := range b.Manifest.Blobs {
		if n := b.served[bl.Digest]; (bl.What == "layer" || bl.What == "config") && n != 1 {
			t.Errorf("%s read %d times", bl.describe(), n)
		}
	}
	env := &f.site.Environments[0]
	st, err := promote.StatusOf(f.ctx, f.site, attest.Trusting(f.keys), "app", "prod")
	if err != nil || st.Digest != f.digest.DigestStr() || st.Drift {
		t.Fatalf("status %+v %v", st, err)
	}
	// Again: already imported, no second receipt.
	if res, err = Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: f.site, Env: "prod", Keys: f.keys, Signer: f.signer, Version: "test"}); err != nil || !res.AlreadyImported || res.Receipt {
		t.Fatalf("again: %+v %v", res, err)
	}
	hist, err := promote.History(f.ctx, attest.Trusting(f.keys), "app", env)
	if err != nil || len(hist) != 1 || hist[0].Action != receipt.ActionImport {
		t.Fatalf("history %+v %v", hist, err)
	}
}

func TestImportRefusesAnotherDigestUnlessForced(t *testing.T) {
	f := newFixture(t)
	// The site's prod runs something else already.
	first := f.digest
	f.digest = f.build(t, "amd64")
	engine, _ := policies.Compile(f.ctx, nil)
	p := promote.New(promote.Options{Config: f.src, Verifier: attest.Trusting(f.keys), Signer: attest.ReadySigner(f.signer), Policies: engine, Version: "test"})
	if _, err := p.Promote(f.ctx, promote.Request{Target: "app", To: "prod"}); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(t.TempDir(), "second.tar")
	if _, err := f.export(t, second); err != nil {
		t.Fatal(err)
	}
	imp := func(path string, force bool, signer signature.SignerVerifier) (*ImportResult, error) {
		b, err := Open(path, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		return Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: f.site, Env: "prod", Keys: f.keys, Signer: signer, Force: force, Version: "test"})
	}
	if _, err := imp(f.bundle, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := imp(second, false, f.signer); failure.ClassOf(err) != failure.Conflict || !strings.Contains(err.Error(), "holds "+first.DigestStr()) {
		t.Fatalf("without --force: %v", err)
	}
	if _, err := imp(second, true, nil); failure.ClassOf(err) != failure.Config {
		t.Fatalf("--force without a signing key: %v", err)
	}
	res, err := imp(second, true, f.signer)
	if err != nil || res.Replaced != first.DigestStr() {
		t.Fatalf("--force: %+v %v", res, err)
	}
	hist, err := promote.History(f.ctx, attest.Trusting(f.keys), "app", &f.site.Environments[0])
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Digest != f.digest.DigestStr() || last.Replaced != first.DigestStr() || last.Action != receipt.ActionImport {
		t.Fatalf("history %+v", hist)
	}
}

func blobPath(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }

func manifestOf(t *testing.T, e map[string][]byte) (*Manifest, *v1.IndexManifest) {
	t.Helper()
	var idx v1.IndexManifest
	if err := json.Unmarshal(e["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	for _, d := range idx.Manifests {
		if d.MediaType == MediaType {
			var m Manifest
			if err := json.Unmarshal(e[blobPath(d.Digest.String())], &m); err != nil {
				t.Fatal(err)
			}
			return &m, &idx
		}
	}
	t.Fatal("no bundle manifest")
	return nil, nil
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(fh)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name], _ = io.ReadAll(tr)
	}
}

func writeTar(t *testing.T, path string, e map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, body := range e {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDecidesWithLocalPoliciesUnlessTheReceiptNamesTheBundles: the
// bundle's policies decide only when their digest is the one prod's receipt
// records; otherwise the site's own policies and policy data do, and a site
// whose policy data the digest fails denies it (exit 5).
func TestVerifyDecidesWithLocalPoliciesUnlessTheReceiptNamesTheBundles(t *testing.T) {
	f := newFixture(t)
	strict := &config.Config{Policy: config.Policy{AllowedBuilders: []string{"https://another-builder.test"}}}
	b, err := Open(f.bundle, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The receipt names the bundle's policies: they and their data decide.
	res, err := Verify(f.ctx, b, VerifyOptions{Keys: f.keys, Config: strict})
	if err != nil || res.Policies != "bundle" || res.PolicyData != "bundle" {
		t.Fatalf("%+v %v", res, err)
	}
	// Exported after the source's policies changed: the site's decide.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "extra.rego"), []byte("package bakery.extra\n\ndeny contains msg if {\n\tfalse\n\tmsg := \"never\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.src.Policy.Dirs = []string{dir}
	changed := filepath.Join(t.TempDir(), "changed.tar")
	if _, err := f.export(t, changed); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(changed, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	res, err = Verify(f.ctx, b2, VerifyOptions{Keys: f.keys, Config: strict})
	if failure.ClassOf(err) != failure.Policy || res.Policies != "local" || res.PolicyData != "local" || !strings.Contains(err.Error(), "provenance") {
		t.Fatalf("%+v %v", res, err)
	}
	if res, err = Verify(f.ctx, b2, VerifyOptions{Keys: f.keys}); err != nil || res.Policies != "local" || res.PolicyData != "bundle" {
		t.Fatalf("without a site config: %+v %v", res, err)
	}
}

// TestOpenRefusesOversizedEntries: an entry that claims more bytes than the
// file holds (as a sparse one, whose holes read as zeros, does) is refused
// before anything is written, so a small forged bundle cannot fill the disk.
func TestOpenRefusesOversizedEntries(t *testing.T) {
	for name, hdr := range map[string]*tar.Header{
		"oversized": {Name: "blobs/sha256/" + strings.Repeat("a", 64), Mode: 0o644, Size: 1 << 40, Typeflag: tar.TypeReg},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "b.tar")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, nil)
			if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "more than the bundle holds") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestExportMachineImageWithItsDisk: a machine image's bundle holds its
// record and, with Disk, the disk file its record names, and nothing else.
func TestExportMachineImageWithItsDisk(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(disk, bytes.Repeat([]byte("disk"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := machineimage.FileOf(disk)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(f.srcHost+"/dev/ami", name.Insecure)
	rec, _, err := machineimage.Push(f.ctx, repo, &machineimage.Record{Target: "ami", Platform: "linux/amd64", Files: []machineimage.File{file}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.Generate(f.ctx, f.pushImage(t, "sbom-source"), "linux/amd64", sbom.Identity{Version: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	att := attest.New(attest.Options{Signer: f.signer, BuilderID: "https://builder.test", Version: "test", BuilderSBOMs: true})
	if _, err := att.Attest(f.ctx, rec, builders.Result{Target: "ami", Kind: builders.MachineImage, SBOM: doc.SPDX}); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(f.ctx, f.signer, rec, "ami", "dev", "test"); err != nil {
		t.Fatal(err)
	}
	desc, _ := remote.Get(rec)
	if err := remote.Tag(repo.Tag("dev"), desc); err != nil {
		t.Fatal(err)
	}
	f.src.Targets["ami"] = &config.Target{Name: "ami", Type: config.TypePacker}
	engine, _ := policies.Compile(f.ctx, nil)
	p := promote.New(promote.Options{Config: f.src, Verifier: attest.Trusting(f.keys), Signer: attest.ReadySigner(f.signer), Policies: engine, Version: "test"})
	if _, err := p.Promote(f.ctx, promote.Request{Target: "ami", To: "prod"}); err != nil {
		t.Fatal(err)
	}
	export := func(target, disk string) (*ExportResult, error) {
		out, err := os.Create(filepath.Join(dir, "ami.tar"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		return Export(f.ctx, out, ExportOptions{Config: f.src, Target: target, Env: "prod", Keys: f.keys, Signer: f.signer, Disk: disk, Version: "test"})
	}
	res, err := export("ami", disk)
	if err != nil || res.Kind != "machine-image" || res.Digest != rec.DigestStr() {
		t.Fatalf("%+v %v", res, err)
	}
	v, err := verify(f.ctx, filepath.Join(dir, "ami.tar"), f.keys, "")
	if err != nil || v.Kind != "machine-image" {
		t.Fatalf("verify: %+v %v", v, err)
	}
	b, err := Open(filepath.Join(dir, "ami.tar"), f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	disks, err := b.File(RoleDisk)
	if err != nil || !bytes.Equal(disks["disk.raw"], bytes.Repeat([]byte("disk"), 4096)) {
		t.Fatalf("the disk in the bundle: %d bytes, %v", len(disks["disk.raw"]), err)
	}
	// A file the record does not name, and a disk for a container, are refused.
	other := filepath.Join(dir, "other.raw")
	if err := os.WriteFile(other, []byte("not the disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := export("ami", other); failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "not among the files the record names") {
		t.Fatalf("another file: %v", err)
	}
	if _, err := export("app", disk); failure.ClassOf(err) != failure.Config {
		t.Fatalf("--disk for a container: %v", err)
	}
}

// pushImage pushes a linux/amd64 image to dev/target.
func (f *fixture) pushImage(t *testing.T, target string) name.Digest {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.NewDigest(f.srcHost+"/dev/"+target+"@"+d.String(), name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestRevocationsTravelWithTheBundle: a revoked digest is not exported; a
// revocation scheduled at export travels in the bundle and fails verify
// once it takes effect.
func TestRevocationsTravelWithTheBundle(t *testing.T) {
	f := newFixture(t)
	revokeAt := func(at time.Time) {
		now := time.Now().UTC().Format(revoke.TimeFormat)
		e := revoke.Entry{Digest: f.digest.DigestStr(), Action: revoke.ActionRevoke, Reason: "CVE-2024-3094", By: "ops", Time: now,
			EffectiveAt: at.UTC().Format(revoke.TimeFormat)}
		if err := revoke.Write(f.ctx, f.src, f.signer, attest.Trusting(f.keys), []revoke.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	tomorrow := time.Now().Add(24 * time.Hour)
	revokeAt(tomorrow)
	path := filepath.Join(t.TempDir(), "scheduled.tar")
	if _, err := f.export(t, path); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Verify(f.ctx, b, VerifyOptions{Keys: f.keys}); err != nil {
		t.Fatalf("before the revocation takes effect: %v", err)
	}
	res, err := Verify(f.ctx, b, VerifyOptions{Keys: f.keys, At: tomorrow.Add(time.Hour)})
	if failure.ClassOf(err) != failure.Verify || res.Revoked == nil || !strings.Contains(err.Error(), "CVE-2024-3094") {
		t.Fatalf("after: %+v %v", res, err)
	}
	revokeAt(time.Now())
	if _, err := f.export(t, filepath.Join(t.TempDir(), "revoked.tar")); failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("export of a revoked digest: %v", err)
	}
}

// TestForeignSignatureCountsForNothing: a signature by another key on the
// exported digest (anyone can push to dev) is carried in the bundle as the
// registry held it, counts for nothing in verification, as everywhere in
// bakery, and is left behind by import.
func TestForeignSignatureCountsForNothing(t *testing.T) {
	f := newFixture(t)
	dev, _ := name.NewDigest(f.srcHost+"/dev/app@"+f.digest.DigestStr(), name.Insecure)
	se := ociremote.SignedUnknown(dev, bakeryregistry.OCIOptions(f.ctx)...)
	sigs, err := se.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := sigs.Get()
	if err != nil || len(layers) != 1 {
		t.Fatalf("signatures in dev: %d %v", len(layers), err)
	}
	p, _ := layers[0].Payload()
	forged, err := f.other.SignMessage(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(forged))
	if err != nil {
		t.Fatal(err)
	}
	if se, err = cosignmutate.AttachSignatureToEntity(se, fs); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(dev.Repository, se, bakeryregistry.OCIOptions(f.ctx)...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dev.tar")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Export(f.ctx, out, ExportOptions{Config: f.src, Target: "app", Env: "dev", Keys: f.keys, Signer: f.signer, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	b, err := Open(path, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f.site.Environments = append(f.site.Environments, config.Environment{Name: "dev", Repository: f.siteHost + "/site-dev", Tag: config.DefaultTagTemplate, Insecure: true})
	res, err := Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: f.site, Env: "dev", Keys: f.keys, Signer: f.signer, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Verified.Report.Signatures) != 1 || res.Verified.Report.Signatures[0].KeyID != f.keys[0].ID {
		t.Fatalf("signatures that counted: %+v", res.Verified.Report.Signatures)
	}
	if res.Copy.Signatures != 1 || len(res.Copy.LeftBehind) != 1 || !strings.Contains(res.Copy.LeftBehind[0], "signature") {
		t.Fatalf("copy %+v: want the trusted signature carried and the foreign one left behind", res.Copy)
	}
}

// TestImportDecidesAsPromoteWould: import is a promotion from a file. The
// site's own gate decides, never the bundle's: an environment the bundle
// skips, the site's own policy data, a revocation written at the site after
// the export (with --force too) each refuse the import, and leave the site's
// tag untouched; a bundle whose receipts cover the site's previous
// environment is admitted.
func TestImportDecidesAsPromoteWould(t *testing.T) {
	f := newFixture(t)
	devBundle := filepath.Join(t.TempDir(), "dev.tar")
	out, err := os.Create(devBundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Export(f.ctx, out, ExportOptions{Config: f.src, Target: "app", Env: "dev", Keys: f.keys, Signer: f.signer, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	strict := []string{"signed", "sbom", "provenance", "promoted_through"}
	sites := 0
	site := func(envs ...string) *config.Config {
		c := *f.site
		c.Environments = nil
		sites++
		for _, e := range envs {
			c.Environments = append(c.Environments, config.Environment{Name: e, Repository: fmt.Sprintf("%s/site%d/%s", f.siteHost, sites, e),
				Tag: config.DefaultTagTemplate, Insecure: true, Policies: strict})
		}
		return &c
	}
	imp := func(path string, cfg *config.Config, force bool) (*ImportResult, error) {
		b, err := Open(path, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		return Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: cfg, Env: "prod", Keys: f.keys, Signer: f.signer, Force: force, Version: "test"})
	}
	untouched := func(cfg *config.Config) {
		t.Helper()
		env, _, _ := cfg.LookupEnvironment("prod")
		tag, _ := env.Locate("app")
		if d, err := bakeryregistry.Resolve(f.ctx, tag); !errors.Is(err, bakeryregistry.ErrNotFound) {
			t.Errorf("the refused import left %s at %s (%v)", tag, d, err)
		}
	}

	// dev → prod at a site whose prod follows dev: the bundle's dev receipt counts.
	if _, err := imp(devBundle, site("dev", "prod"), false); err != nil {
		t.Fatalf("dev bundle into a dev → prod site: %v", err)
	}
	// dev → prod at a site with staging in between: staging would be skipped.
	skip := site("dev", "staging", "prod")
	if _, err := imp(devBundle, skip, false); failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "no receipt for staging") {
		t.Errorf("a bundle that skips staging: %v, want denied by promoted_through", err)
	}
	untouched(skip)

	// The site's policy data decides: it allows another builder only.
	data := site("dev", "prod")
	data.Policy.AllowedBuilders = []string{"https://builder.elsewhere"}
	if _, err := imp(f.bundle, data, false); failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "provenance") {
		t.Errorf("a builder the site does not allow: %v, want denied by provenance", err)
	}
	untouched(data)

	// Revoked at the site after the bundle was written: refused, --force too.
	revoked := site("dev", "prod")
	now := time.Now().UTC()
	e := revoke.Entry{Digest: f.digest.DigestStr(), Action: revoke.ActionRevoke, Reason: "CVE-2024-3094", By: "site-ops",
		Time: now.Format(revoke.TimeFormat), EffectiveAt: now.Add(-time.Second).Format(revoke.TimeFormat)}
	if err := revoke.Write(f.ctx, revoked, f.signer, attest.Trusting(f.keys), []revoke.Entry{e}); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		res, err := imp(f.bundle, revoked, force)
		if failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "CVE-2024-3094") {
			t.Errorf("revoked at the site (force %v): %v, want denied by not_revoked", force, err)
		}
		if res == nil || res.Verified == nil || res.Verified.Revoked == nil || res.Verified.Policies != "site" {
			t.Errorf("revoked at the site (force %v): result %+v, want the site's revocation shown", force, res)
		}
	}
	untouched(revoked)
}

// TestTestResultsTravelWithTheBundle: a digest's signed test results go into
// its bundle with its other attestations, verify offline as its test
// evidence, and after import count at the site: an environment there that
// requires tested accepts the bundle, and refuses one exported before the
// results were recorded.
func TestTestResultsTravelWithTheBundle(t *testing.T) {
	f := newFixture(t)
	untested := f.bundle // exported before any test result
	f.src.Targets["app"].Tests = []config.Test{{Name: "structure", File: "structure.yaml"}}
	prod, _ := name.NewDigest(f.srcHost+"/prod/app@"+f.digest.DigestStr(), name.Insecure)
	plats, err := attest.Platforms(f.ctx, prod)
	if err != nil || len(plats) != 2 {
		t.Fatalf("platforms %v %v", plats, err)
	}
	finished := time.Now().Add(-time.Minute).Truncate(time.Second)
	var stmts []attest.Statement
	for _, p := range plats {
		st, err := attesttest.TestResult(prod, p.Ref, "app", "structure", p.Platform, "", finished)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, st)
	}
	if err := attest.Attach(f.ctx, f.signer, prod, stmts); err != nil {
		t.Fatal(err)
	}
	tested := filepath.Join(t.TempDir(), "tested.tar")
	if _, err := f.export(t, tested); err != nil {
		t.Fatal(err)
	}

	res, err := verify(f.ctx, tested, f.keys, "prod")
	if err != nil {
		t.Fatal(err)
	}
	ev := promote.Tests(res.Report, "app")
	if len(ev) != 2 || ev[0].Platform != "linux/amd64" || ev[1].Platform != "linux/arm64" || ev[0].Result != "PASSED" || ev[1].Result != "PASSED" {
		t.Errorf("the bundle's test evidence, verified offline: %+v", ev)
	}

	site := *f.site
	site.Environments = []config.Environment{{Name: "prod", Repository: f.siteHost + "/tested", Tag: config.DefaultTagTemplate, Insecure: true,
		Policies: []string{"signed", "sbom", "provenance", "tested"}}}
	imp := func(path string) error {
		b, err := Open(path, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_, err = Import(f.ctx, b, ImportOptions{Policies: f.engine, Config: &site, Env: "prod", Keys: f.keys, Signer: f.signer, Version: "test"})
		return err
	}
	if err := imp(untested); failure.ClassOf(err) != failure.Policy || !strings.Contains(err.Error(), "structure") {
		t.Errorf("a bundle without test results into an environment that requires tested: %v, want denied by tested", err)
	}
	if err := imp(tested); err != nil {
		t.Fatalf("the tested bundle into an environment that requires tested: %v", err)
	}
	st, err := promote.StatusOf(f.ctx, &site, attest.Trusting(f.keys), "app", "prod")
	if err != nil || st.Digest != f.digest.DigestStr() || promote.TestSummary(st.Tests, st.Suites) != "2/2 passed" {
		t.Errorf("the site's status after the import: %+v %v", st, err)
	}
}
