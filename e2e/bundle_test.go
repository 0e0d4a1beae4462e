//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/bundle"
)

// bundleSource is a project whose app goes dev → staging → prod on the first
// registry, built and promoted to prod, and exported from prod to a bundle.
type bundleSource struct {
	cfg, digest, bundle string
}

func newBundleSource(t *testing.T, ns, content string) bundleSource {
	t.Helper()
	dir := t.TempDir()
	cfg := smallProject(t, dir, ns, regAddr+"/"+ns+"/prod", "app")
	return exportApp(t, cfg, content)
}

// exportApp builds content as app, promotes it to prod and exports it.
func exportApp(t *testing.T, cfg, content string) bundleSource {
	t.Helper()
	s := bundleSource{cfg: cfg, digest: rebuild(t, cfg, "app", content)}
	for _, env := range []string{"staging", "prod"} {
		if r := bakery(t, nil, "promote", "app", "--to", env, "--config", cfg); r.code != 0 {
			t.Fatalf("promote app to %s: exit %d", env, r.code)
		}
	}
	s.bundle = filepath.Join(filepath.Dir(cfg), content+".tar")
	r := bakery(t, nil, "export", "app", "--env", "prod", "--out", s.bundle, "--config", cfg, "--progress", "plain", "-o", "json")
	var res bundle.ExportResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || res.Digest != s.digest {
		t.Fatalf("export: exit %d, %+v (%v)\n%s", r.code, res, err, r.stdout)
	}
	// Each blob once: the bytes written are the blobs' bytes in the tar.
	var sum int64
	blobs := 0
	for name, body := range bundleEntries(t, s.bundle) {
		if strings.HasPrefix(name, "blobs/sha256/") {
			sum += int64(len(body))
			blobs++
		}
	}
	if res.Bytes != sum || res.Blobs != blobs {
		t.Fatalf("export wrote %d bytes in %d blobs; the tar holds %d bytes in %d blobs", res.Bytes, res.Blobs, sum, blobs)
	}
	return s
}

// siteProject is an air-gapped site: its prod is on the second registry.
func siteProject(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  app:
    type: container
    context: app
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
environments:
  - name: prod
    repository: %s/%s/site
    insecure: true
    policies: [signed, sbom, provenance]
`, registry2, ns)})
	return filepath.Join(dir, "bakery.yaml")
}

// offline runs the bakery binary in a network namespace of its own, with no
// network at all (not even loopback: the registries are out of reach).
func offline(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--net", "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), signingEnv()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("unshare --net bakery: %v", err)
	}
	t.Logf("(no network) bakery %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	return r
}

// TestBundleExportVerifyImport carries a promoted digest across an air gap:
// export from the first registry, verify with no network, import into the
// second registry, where the stock cosign CLI verifies it and status shows
// it; then another digest is refused unless --force, which history records.
func TestBundleExportVerifyImport(t *testing.T) {
	ns := runID + "-bundle"
	src := newBundleSource(t, ns, "bundle-1")

	// The network is really off: the registry the bundle came from is out of reach.
	if r := offline(t, "verify", regAddr+"/"+ns+"/prod/app@"+src.digest); r.code != 6 {
		t.Fatalf("verify against the registry with no network: exit %d, want 6", r.code)
	}
	r := offline(t, "verify", "--bundle", src.bundle, "-o", "json")
	var v bundle.Result
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("verify --bundle: exit %d (%v)\n%s", r.code, err, r.stdout)
	}
	if v.Digest != src.digest || v.Environment != "prod" || v.Policies != "bundle" || v.Decision == nil || !v.Decision.Allowed ||
		!v.Report.Verified || len(v.Receipts) != 3 {
		t.Fatalf("verify --bundle: %+v", v)
	}
	if r := offline(t, "verify", "--bundle", src.bundle, "--env", "staging"); r.code != 0 {
		t.Fatalf("verify --bundle --env staging: exit %d", r.code)
	}
	// The manifest's signature is cosign's sign-blob signature: the stock
	// cosign CLI verifies it with the trusted key.
	entries := bundleEntries(t, src.bundle)
	_, idx := bundleManifest(t, entries)
	for _, d := range idx.Manifests {
		if d.MediaType == bundle.MediaType {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"manifest.json": string(entries[blobEntry(d.Digest.String())]), "manifest.sig": d.Annotations[bundle.AnnotationSignature]})
			o, code := stockCosign(t, "verify-blob", "--key", filepath.Join(keyDir, "trusted.pub"), "--insecure-ignore-tlog",
				"--signature", filepath.Join(dir, "manifest.sig"), filepath.Join(dir, "manifest.json"))
			if code != 0 {
				t.Fatalf("cosign verify-blob of the bundle manifest: exit %d\n%s", code, o)
			}
		}
	}
	// Another site trusts another key: the keys in the bundle do not count.
	r = offline(t, "verify", "--bundle", src.bundle, "--key", filepath.Join(keyDir, "other.pub"))
	if r.code != 4 || !strings.Contains(r.stderr, "not signed by a trusted key") {
		t.Fatalf("verify --bundle with another site's key: exit %d", r.code)
	}

	site := siteProject(t, ns)
	ref := registry2 + "/" + ns + "/site/app@" + src.digest
	// Without the site's signing key: imported, no receipt.
	imp := importBundle(t, site, src.bundle, 0, "BAKERY_SIGNING_KEY=")
	if imp["receiptSigned"] != false || imp["digest"] != src.digest {
		t.Fatalf("import without a site key: %v", imp)
	}
	if st := statusOf(t, site, "app", "prod"); st["digest"] != src.digest || st["receipt"] != false {
		t.Fatalf("status after an import without receipt: %v", st)
	}
	imp = importBundle(t, site, src.bundle, 0)
	if imp["receiptSigned"] != true {
		t.Fatalf("import with the site key: %v", imp)
	}
	if st := statusOf(t, site, "app", "prod"); st["digest"] != src.digest || st["receipt"] != true || st["drift"] != false {
		t.Fatalf("status after the import: %v", st)
	}
	pub := filepath.Join(keyDir, "trusted.pub")
	if o, code := stockCosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", ref); code != 0 || !strings.Contains(o, src.digest) {
		t.Fatalf("cosign verify %s: exit %d\n%s", ref, code, o)
	}
	for _, typ := range []string{"spdxjson", "cyclonedx", "slsaprovenance1"} {
		if o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", "--type", typ, ref); code != 0 {
			t.Fatalf("cosign verify-attestation --type %s %s: exit %d\n%s", typ, ref, code, o)
		}
	}

	// Another digest under the site's prod tag: refused, then forced.
	next := exportApp(t, src.cfg, "bundle-2")
	r = bakery(t, nil, "import", next.bundle, "--to", "prod", "--config", site)
	if r.code != 7 || !strings.Contains(r.stderr, "holds "+src.digest) || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("import over another digest: exit %d", r.code)
	}
	if st := statusOf(t, site, "app", "prod"); st["digest"] != src.digest {
		t.Fatalf("a refused import moved the tag: %v", st)
	}
	imp = importBundle(t, site, next.bundle, 0, "--force")
	if imp["replaced"] != src.digest {
		t.Fatalf("forced import: %v", imp)
	}
	h := bakery(t, nil, "history", "app", "--env", "prod", "--config", site, "-o", "json")
	var hist []map[string]any
	if err := json.Unmarshal([]byte(h.stdout), &hist); err != nil || h.code != 0 || len(hist) == 0 {
		t.Fatalf("history: exit %d (%v)\n%s", h.code, err, h.stdout)
	}
	last := hist[len(hist)-1]
	if last["digest"] != next.digest || last["action"] != "import" || last["replaced"] != src.digest {
		t.Fatalf("history does not record the forced import: %v", last)
	}
}

// importBundle runs bakery import with the site config; args starting with
// "--" are flags, the others environment variables.
func importBundle(t *testing.T, site, path string, want int, args ...string) map[string]any {
	t.Helper()
	var env []string
	cmd := []string{"import", path, "--to", "prod", "--config", site, "-o", "json"}
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			cmd = append(cmd, a)
		} else {
			env = append(env, a)
		}
	}
	r := bakery(t, env, cmd...)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != want {
		t.Fatalf("import %s: exit %d, want %d (%v)\n%s", strings.Join(args, " "), r.code, want, err, r.stdout)
	}
	return out
}

// TestBundleTampered: each tampered bundle fails verification, with no
// network, with exit 4 and a message naming what is wrong; the forgeries of
// signatures are made with the stock cosign and crane CLIs.
func TestBundleTampered(t *testing.T) {
	ns := runID + "-bundle-tamper"
	src := newBundleSource(t, ns, "tamper-1")
	entries := bundleEntries(t, src.bundle)
	m, _ := bundleManifest(t, entries)
	var layer, sigs bundle.Blob
	for _, b := range m.Blobs {
		if b.What == "layer" && b.Of == bundle.RoleImage {
			layer = b
		}
		if b.What == "manifest" && b.Of == bundle.RoleSignatures {
			sigs = b
		}
	}
	// The attacker signs the digest in dev, which anyone can push to, with
	// their own key, and takes that signature manifest into the bundle.
	dev := regAddr + "/" + ns + "/dev/app"
	run(t, []string{"COSIGN_PASSWORD="}, cosign, "sign", "--key", filepath.Join(keyDir, "other.key"), "--tlog-upload=false",
		"--allow-http-registry", "--yes", dev+"@"+src.digest)
	sigTag := dev + ":sha256-" + strings.TrimPrefix(src.digest, "sha256:") + ".sig"
	forgedSigs := []byte(run(t, nil, crane, "manifest", "--insecure", sigTag))

	cases := []struct {
		name   string
		tamper func(t *testing.T, e map[string][]byte, idx *v1.IndexManifest)
		want   string
	}{
		{"truncated", nil, "truncated"},
		{"a byte flipped in a layer", func(_ *testing.T, e map[string][]byte, _ *v1.IndexManifest) {
			body := e[blobEntry(layer.Digest)]
			body[len(body)/2] ^= 0x20
		}, layer.Digest + " of image does not match its digest"},
		{"the signatures manifest swapped for the image's", func(_ *testing.T, e map[string][]byte, idx *v1.IndexManifest) {
			setObject(e, idx, bundle.RoleSignatures, m.Digest, nil)
		}, "index.json names signatures " + m.Digest},
		{"a foreign signature added (stock cosign, other key)", func(t *testing.T, e map[string][]byte, idx *v1.IndexManifest) {
			var mf v1.Manifest
			if err := json.Unmarshal(forgedSigs, &mf); err != nil {
				t.Fatal(err)
			}
			for _, l := range mf.Layers {
				e[blobEntry(l.Digest.String())] = []byte(run(t, nil, crane, "blob", "--insecure", dev+"@"+l.Digest.String()))
			}
			setObject(e, idx, bundle.RoleSignatures, sha256Digest(forgedSigs), forgedSigs)
		}, "index.json names signatures " + sha256Digest(forgedSigs)},
		{"the manifest rewritten and re-signed with another key (stock cosign sign-blob)", func(t *testing.T, e map[string][]byte, idx *v1.IndexManifest) {
			resignManifest(t, e, idx)
		}, "is not signed by a trusted key"},
	}
	if sigs.Digest == "" || layer.Digest == "" {
		t.Fatalf("the bundle manifest lists no layer or signatures: %+v", m.Blobs)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "forged.tar")
			if c.tamper == nil {
				raw := []byte(readFile(t, src.bundle))
				writeFiles(t, filepath.Dir(path), map[string]string{"forged.tar": string(raw[:len(raw)*2/3])})
			} else {
				e := bundleEntries(t, src.bundle)
				_, idx := bundleManifest(t, e)
				c.tamper(t, e, idx)
				writeBundleTar(t, path, e)
			}
			r := offline(t, "verify", "--bundle", path)
			if r.code != 4 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("verify --bundle: exit %d, want 4 and one line naming %q", r.code, c.want)
			}
			// Nor does it import.
			if r := bakery(t, nil, "import", path, "--to", "prod", "--config", siteProject(t, ns)); r.code != 4 {
				t.Fatalf("import of a tampered bundle: exit %d, want 4", r.code)
			}
		})
	}
}

// TestBundleOfARevokedDigest: a digest revoked at the source is not
// exported.
func TestBundleOfARevokedDigest(t *testing.T) {
	ns := runID + "-bundle-revoked"
	src := newBundleSource(t, ns, "revoked-1")
	if r := bakery(t, nil, "revoke", src.digest, "--reason", "CVE-2024-3094", "--yes", "--config", src.cfg); r.code != 0 {
		t.Fatalf("revoke: exit %d", r.code)
	}
	r := bakery(t, nil, "export", "app", "--env", "prod", "--out", filepath.Join(t.TempDir(), "revoked.tar"), "--config", src.cfg)
	if r.code != 4 || !strings.Contains(r.stderr, "revoked") || !strings.Contains(r.stderr, "CVE-2024-3094") {
		t.Fatalf("export of a revoked digest: exit %d, want 4 naming the revocation", r.code)
	}
}

// resignManifest changes the bundle manifest (it claims another exporter)
// and signs it with the other key through the stock cosign sign-blob.
func resignManifest(t *testing.T, e map[string][]byte, idx *v1.IndexManifest) {
	t.Helper()
	for i, d := range idx.Manifests {
		if d.MediaType != bundle.MediaType {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(e[blobEntry(d.Digest.String())], &m); err != nil {
			t.Fatal(err)
		}
		m["exporter"] = "attacker"
		body, _ := json.Marshal(m)
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"m.json": string(body)})
		run(t, []string{"COSIGN_PASSWORD="}, cosign, "sign-blob", "--key", filepath.Join(keyDir, "other.key"), "--tlog-upload=false",
			"--yes", "--output-signature", filepath.Join(dir, "m.sig"), filepath.Join(dir, "m.json"))
		sig := readFile(t, filepath.Join(dir, "m.sig"))
		delete(e, blobEntry(d.Digest.String()))
		e[blobEntry(sha256Digest(body))] = body
		idx.Manifests[i].Digest, _ = v1.NewHash(sha256Digest(body))
		idx.Manifests[i].Size = int64(len(body))
		idx.Manifests[i].Annotations[bundle.AnnotationSignature] = strings.TrimSpace(sig)
	}
	e["index.json"], _ = json.Marshal(idx)
}

// setObject points index.json's entry of role at digest, adding body as
// that manifest's blob when given.
func setObject(e map[string][]byte, idx *v1.IndexManifest, role, digest string, body []byte) {
	if body != nil {
		e[blobEntry(digest)] = body
	}
	for i, d := range idx.Manifests {
		if d.Annotations[bundle.AnnotationRole] == role {
			idx.Manifests[i].Digest, _ = v1.NewHash(digest)
		}
	}
	e["index.json"], _ = json.Marshal(idx)
}

func blobEntry(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }

func bundleManifest(t *testing.T, e map[string][]byte) (*bundle.Manifest, *v1.IndexManifest) {
	t.Helper()
	var idx v1.IndexManifest
	if err := json.Unmarshal(e["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	for _, d := range idx.Manifests {
		if d.MediaType == bundle.MediaType {
			var m bundle.Manifest
			if err := json.Unmarshal(e[blobEntry(d.Digest.String())], &m); err != nil {
				t.Fatal(err)
			}
			return &m, &idx
		}
	}
	t.Fatal("the bundle has no manifest")
	return nil, nil
}

func bundleEntries(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if out[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}

func writeBundleTar(t *testing.T, path string, e map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range e {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
