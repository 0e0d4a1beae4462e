package bundle

import (
	"archive/tar"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// FuzzOpen feeds Open arbitrary tars: it never panics, writes nothing outside
// its directory, and whatever it refuses is a one-line verification or
// config error; whatever it accepts is signed by the trusted key.
func FuzzOpen(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		f.Fatal(err)
	}
	id, err := attest.KeyID(signer)
	if err != nil {
		f.Fatal(err)
	}
	keys := []attest.TrustedKey{{ID: id, Verifier: signer}}
	image := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	m := Manifest{Version: 1, Target: "app", Environment: "prod", Digest: digestOf(image),
		Objects: []Object{{Role: RoleImage, Digest: digestOf(image), MediaType: string(types.OCIManifestSchema1), Size: int64(len(image))}},
		Blobs: []Blob{{Digest: digestOf([]byte("{}")), Size: 2, What: "config", Of: RoleImage},
			{Digest: digestOf(image), Size: int64(len(image)), What: "manifest", MediaType: string(types.OCIManifestSchema1), Of: RoleImage}}}
	body, _ := json.Marshal(m)
	sig, err := signManifest(signer, body)
	if err != nil {
		f.Fatal(err)
	}
	mh, _ := v1.NewHash(digestOf(body))
	ih, _ := v1.NewHash(digestOf(image))
	idx, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{
		{MediaType: MediaType, Digest: mh, Size: int64(len(body)), Annotations: map[string]string{AnnotationRole: RoleManifest, AnnotationSignature: sig}},
		{MediaType: types.OCIManifestSchema1, Digest: ih, Size: int64(len(image)), Annotations: map[string]string{AnnotationRole: RoleImage}},
	}})
	entries := []struct {
		name string
		body []byte
	}{{"blobs/sha256/" + mh.Hex, body}, {"blobs/sha256/" + ih.Hex, image}, {"blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", []byte("{}")},
		{"index.json", idx}, {"oci-layout", []byte(`{"imageLayoutVersion": "1.0.0"}`)}}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		_ = tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(e.body)
	}
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:len(buf.Bytes())/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "b.tar")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path, keys)
		if err != nil {
			if c := failure.ClassOf(err); c != failure.Verify && c != failure.Config {
				t.Fatalf("class %v: %v", c, err)
			}
			if bytes.ContainsRune([]byte(err.Error()), '\n') {
				t.Fatalf("not one line: %q", err)
			}
			return
		}
		defer b.Close()
		if b.SignedBy != keys[0].ID {
			t.Fatalf("accepted a bundle signed by %q", b.SignedBy)
		}
	})
}
