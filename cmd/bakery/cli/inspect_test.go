package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/types"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// TestInspectReadsProvenanceStrictly: inspect prints a container's source
// from its provenance, and a trusted provenance whose external parameters
// have the wrong types is a verification failure, not a panic.
func TestInspectReadsProvenanceStrictly(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(bakerytest.Handler())
	t.Cleanup(srv.Close)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := builders.Result{Target: "app", Kind: builders.Container, Invocation: &builders.Invocation{ExternalParameters: builders.Parameters{
		Container: &builders.ContainerParameters{Target: builders.TargetSettings{Name: "app"},
			Source: &builders.Source{URI: "https://git.example/app.git", Commit: "0123abc", Dirty: true}}}}}
	priv, pub, err := attest.GenerateKeys(filepath.Join(t.TempDir(), "trusted"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	attester := attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test"})
	// random.Image's config names no platform: an error, not a panic.
	if _, err := attester.Attest(ctx, push(t, srv, "nowhere", img), res); failure.ClassOf(err) != failure.Verify {
		t.Fatalf("attesting an image of no platform: %v (class %v)", err, failure.ClassOf(err))
	}
	ref := push(t, srv, "app", linuxAMD64(t, img))
	if _, err := attester.Attest(ctx, ref, res); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "inspect", ref.String(), "--key", pub)
	if err != nil || !strings.Contains(out, "https://git.example/app.git commit 0123abc, dirty: yes") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, params := range []string{`{"target":"app"}`, `{"target":{"name":"app"},"source":"git"}`, `{"target":{"name":"app"},"source":{"dirty":"yes"}}`} {
		if _, err := attesttest.DropAttestations(ctx, ref, func(pt string, _ []string) bool { return pt == attest.PredicateSLSAv1 }); err != nil {
			t.Fatal(err)
		}
		st := attest.Statement{PredicateType: attest.PredicateSLSAv1, Subjects: []attest.Subject{attest.SubjectOf(ref)},
			Predicate: json.RawMessage(`{"buildDefinition":{"buildType":"` + attest.BuildTypeContainer + `","externalParameters":` + params +
				`},"runDetails":{"builder":{"id":"https://builder.test"}}}`)}
		if err := attesttest.AttachStatement(ctx, signer, ref, st, attest.PredicateSLSAv1, types.IntotoPayloadType); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, "inspect", ref.String(), "--key", pub); failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "the provenance") {
			t.Errorf("%s: %v (class %v), want a verification failure of the provenance\n%s", params, err, failure.ClassOf(err), out)
		}
	}
}

// linuxAMD64 is img with a config naming linux/amd64.
func linuxAMD64(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
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

func push(t *testing.T, srv *httptest.Server, repo string, img v1.Image) name.Digest {
	t.Helper()
	r, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/dev/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	dgst, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := r.Digest(dgst.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}
