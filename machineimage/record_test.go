package machineimage

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/bakerytest"
)

func TestPushRead(t *testing.T) {
	repo, err := name.NewRepository(bakerytest.NewRegistry(t).Host + "/dev/golden-ami")
	if err != nil {
		t.Fatal(err)
	}
	in := &Record{
		Target: "golden-ami", Platform: "linux/amd64",
		AMIs: map[string]string{"us-east-1": "ami-0123456789abcdef0"}, Regions: []string{"us-east-1"},
		Files:  []File{{Name: "rootfs.tar.gz", Digest: "sha256:" + strings.Repeat("a", 64), Size: 42}},
		Source: &Source{URI: "ami:ami-0fedcba9876543210"},
		Build:  Build{Packer: "1.12.0", BuildName: "debian", BuilderType: "amazon-ebs", BuilderID: "mitchellh.amazonebs", ArtifactID: "us-east-1:ami-0123456789abcdef0"},
	}
	ctx := context.Background()
	ref, size, err := Push(ctx, repo, in)
	if err != nil {
		t.Fatal(err)
	}
	if size <= 0 {
		t.Errorf("size %d", size)
	}
	// The same record is the same digest: pushing is reproducible.
	again, _, err := Push(ctx, repo, in)
	if err != nil || again != ref {
		t.Errorf("second push: %v %v, want %v", again, err, ref)
	}
	out, err := Read(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read back %+v, want %+v", out, in)
	}
	// The manifest is an OCI 1.1 artifact with bakery's artifactType.
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	if !Is(m) || !strings.Contains(string(raw), `"artifactType":"`+ArtifactType+`"`) || len(m.Layers) != 1 || m.Layers[0].Size != 2 {
		t.Errorf("manifest %s", raw)
	}

	// A container image is not a record.
	rnd, _ := random.Image(64, 1)
	h, _ := rnd.Digest()
	other := repo.Digest(h.String())
	if err := remote.Write(other, rnd); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, other); !errors.Is(err, ErrNotRecord) {
		t.Errorf("Read(container image) = %v, want ErrNotRecord", err)
	}
}

func TestParseAMIs(t *testing.T) {
	for id, want := range map[string]map[string]string{
		"us-east-1:ami-0abc":                   {"us-east-1": "ami-0abc"},
		"eu-west-1:ami-1,us-east-1:ami-2":      {"eu-west-1": "ami-1", "us-east-1": "ami-2"},
		"/tmp/output/rootfs.tar.gz":            nil,
		"us-east-1:snap-0abc":                  nil,
		"us-east-1:ami-0abc,output/disk.qcow2": nil,
		"":                                     nil,
	} {
		got, ok := ParseAMIs(id)
		if ok != (want != nil) || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("ParseAMIs(%q) = %v, %v; want %v", id, got, ok, want)
		}
	}
	if got := SortedRegions(map[string]string{"us-east-1": "a", "eu-west-1": "b"}); !reflect.DeepEqual(got, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("SortedRegions = %v", got)
	}
}
