package builders

import (
	"encoding/json"
	"strings"
	"testing"
)

// The external parameters as the builders wrote them when they were maps
// (encoding/json sorts a map's keys; a nil map or slice is null). Each must
// decode to its shape and encode again to the same bytes.
var recordedParameters = []struct {
	name string
	kind Kind
	json string
}{
	{"container", Container, `{"args":{"BASE":"r/base:dev","V":"1"},` +
		`"context":{"digest":{"sha256":"c0"},"path":"app"},"dockerfile":{"digest":{"sha256":"d0"},"path":"Dockerfile"},` +
		`"source":{"uri":"https://git.example/app.git","commit":"abc","dirty":false},` +
		`"target":{"cache_from":["type=registry,ref=r/cache"],"cache_to":null,"context":"app","dockerfile":"Dockerfile",` +
		`"labels":{"team":"web"},"name":"app","platforms":["linux/amd64","linux/arm64"],` +
		`"secrets":[{"id":"npm","source":"file"},{"id":"tok","source":"env"}],"stage":"prod","type":"dockerfile"}}`},
	{"container with nothing set", Container, `{"args":null,"context":{"digest":{"sha256":""},"path":""},` +
		`"dockerfile":{"digest":{"sha256":""},"path":""},"target":{"cache_from":null,"cache_to":null,"context":"",` +
		`"dockerfile":"","labels":null,"name":"x","platforms":null,"secrets":[],"stage":"","type":""}}`},
	{"container before the context was recorded", Container, `{"args":{},"dockerfile":{"digest":{"sha256":"d0"},"path":"Dockerfile"},` +
		`"target":{"cache_from":[],"cache_to":[],"context":".","dockerfile":"Dockerfile","labels":{},"name":"base",` +
		`"platforms":["linux/amd64"],"secrets":[],"stage":"","type":"dockerfile"}}`},
	{"machine image", MachineImage, `{"artifactId":"ami-0123","buildName":"golden","builderType":"bakery-chroot",` +
		`"except":["b"],"only":["bakery-chroot.golden"],"target":"golden-ami",` +
		`"template":{"digest":{"sha256":"t0"},"path":"golden.pkr.hcl"},"variables":{"region":"eu-west-1"}}`},
	{"machine image, template unread", MachineImage, `{"artifactId":"","buildName":"","builderType":"","target":"golden-ami",` +
		`"template":{"path":"golden.pkr.hcl"}}`},
	{"machine image, no template", MachineImage, `{"artifactId":"a","buildName":"b","builderType":"c","target":"t"}`},
	{"nothing recorded", "", `{}`},
}

func TestParametersRoundTrip(t *testing.T) {
	for _, tc := range recordedParameters {
		t.Run(tc.name, func(t *testing.T) {
			var p Parameters
			if err := json.Unmarshal([]byte(tc.json), &p); err != nil {
				t.Fatal(err)
			}
			if p.Kind() != tc.kind {
				t.Fatalf("kind %q, want %q", p.Kind(), tc.kind)
			}
			out, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.json {
				t.Errorf("encoded again:\n%s\nwant\n%s", out, tc.json)
			}
		})
	}
}

func TestParametersRevokedBaseOverride(t *testing.T) {
	for _, tc := range recordedParameters {
		var p Parameters
		if err := json.Unmarshal([]byte(tc.json), &p); err != nil {
			t.Fatal(err)
		}
		p.RevokedBaseOverride = &BaseOverride{Digest: "sha256:aa", Reason: "INC-7: the fix needs this base"}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := `"revokedBaseOverride":{"digest":"sha256:aa","reason":"INC-7: the fix needs this base"}}`; !strings.HasSuffix(string(out), want) {
			t.Errorf("%s: %s, want it to end with %s", tc.name, out, want)
		}
		var back Parameters
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if back.Kind() != tc.kind || back.RevokedBaseOverride == nil || *back.RevokedBaseOverride != *p.RevokedBaseOverride {
			t.Errorf("%s: decoded %+v", tc.name, back)
		}
	}
}

// TestParametersWrongTypes: every known key of the wrong type is an error,
// and the value decodes to neither shape.
func TestParametersWrongTypes(t *testing.T) {
	for _, in := range []string{
		`{"target":1}`,
		`{"target":true}`,
		`{"target":["app"]}`,
		`{"target":{"name":1}}`,
		`{"target":{"platforms":"linux/amd64"}}`,
		`{"target":{"secrets":[{"id":1}]}}`,
		`{"target":{"secrets":{"id":"x"}}}`,
		`{"target":{},"args":["A=1"]}`,
		`{"target":{},"args":{"A":1}}`,
		`{"target":{},"source":"https://git.example/app.git"}`,
		`{"target":{},"source":{"dirty":"yes"}}`,
		`{"target":{},"dockerfile":"Dockerfile"}`,
		`{"target":{},"context":{"digest":"sha256:aa"}}`,
		`{"target":"golden","template":"golden.pkr.hcl"}`,
		`{"target":"golden","variables":{"n":2}}`,
		`{"target":"golden","only":"a"}`,
		`{"target":"golden","buildName":{}}`,
		`{"target":{},"revokedBaseOverride":"sha256:aa"}`,
		`{"target":{},"target":"a"}`,
		`"target"`,
		`[]`,
		`{"target":`,
	} {
		var p Parameters
		err := json.Unmarshal([]byte(in), &p)
		if err == nil {
			t.Errorf("%s: decoded to %+v, want an error", in, p)
			continue
		}
		if p.Container != nil || p.MachineImage != nil {
			t.Errorf("%s: %v, but left %+v", in, err, p)
		}
	}
}

func TestParametersOfAnotherTool(t *testing.T) {
	var p Parameters
	in := `{"request":{"frontend":"dockerfile.v0"},"source":"not bakery's"}`
	if err := json.Unmarshal([]byte(in), &p); err != nil || p.Kind() != "" {
		t.Fatalf("%+v, %v: want neither shape and no error", p, err)
	}
	if _, err := json.Marshal(Parameters{Container: &ContainerParameters{}, MachineImage: &MachineImageParameters{}}); err == nil {
		t.Error("encoded both shapes at once")
	}
}
