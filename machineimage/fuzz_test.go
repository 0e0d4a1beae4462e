package machineimage

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// FuzzRecord feeds the machine-image record reader arbitrary configs.
func FuzzRecord(f *testing.F) {
	good, err := (&Record{Target: "ami", Platform: "linux/amd64", AMIs: map[string]string{"us-east-1": "ami-1"}}).Image()
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := good.RawConfigFile()
	manifest, _ := good.RawManifest()
	f.Add(raw)
	f.Add([]byte(`{"amis":{"":""},"files":[{"size":-1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, config []byte) {
		img, err := partial.CompressedToImage(&artifact{manifest: manifest, config: config})
		if err != nil {
			return
		}
		_, _ = FromImage(img)
	})
}

// FuzzParseAMIs feeds Packer artifact ids: what it accepts is region:ami-… pairs.
func FuzzParseAMIs(f *testing.F) {
	for _, s := range []string{"us-east-1:ami-0abc", "us-east-1:ami-1,eu-west-1:ami-2", "/tmp/output/disk.qcow2", ":ami-", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		amis, ok := ParseAMIs(id)
		if !ok {
			return
		}
		for region, ami := range amis {
			if region == "" || !strings.HasPrefix(ami, "ami-") {
				t.Fatalf("ParseAMIs(%q) accepted %q: %q", id, region, ami)
			}
		}
	})
}
