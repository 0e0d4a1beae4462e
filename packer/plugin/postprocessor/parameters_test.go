package postprocessor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/machineimage"
)

// mapParameters is how invocation wrote the external parameters as a map,
// before builders.Parameters: the wire format that must not change.
func mapParameters(t *config.Target, rec *machineimage.Record, templateSHA256 string) map[string]any {
	params := map[string]any{
		"target": t.Name, "buildName": rec.Build.BuildName, "builderType": rec.Build.BuilderType,
		"artifactId": rec.Build.ArtifactID,
	}
	if t.Template != "" {
		tmpl := map[string]any{"path": t.Template}
		if templateSHA256 != "" {
			tmpl["digest"] = map[string]string{"sha256": templateSHA256}
		}
		params["template"] = tmpl
	}
	if len(t.Variables) > 0 {
		params["variables"] = t.Variables
	}
	if len(t.Only) > 0 {
		params["only"] = t.Only
	}
	if len(t.Except) > 0 {
		params["except"] = t.Except
	}
	return params
}

// TestInvocationWireFormat: the typed parameters encode to the bytes the
// map did, with and without a template (read or not), variables and a build
// selection, empty ones included.
func TestInvocationWireFormat(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "golden.pkr.hcl")
	if err := os.WriteFile(tmpl, []byte("build {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := machineimage.FileOf(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	rec := &machineimage.Record{Build: machineimage.Build{BuildName: "golden", BuilderType: "bakery-chroot", ArtifactID: "ami-0123"}}
	full := &config.Target{Name: "golden-ami", Type: config.TypePacker, Template: "golden.pkr.hcl",
		Variables: map[string]string{"region": "eu-west-1", "size": "8"}, Only: []string{"bakery-chroot.golden"}, Except: []string{"x"}}
	for _, tc := range []struct {
		name     string
		t        *config.Target
		template string // the template file bakery passed ("": none)
	}{
		{"bare", &config.Target{Name: "vm"}, ""},
		{"empty selection", &config.Target{Name: "vm", Variables: map[string]string{}, Only: []string{}}, ""},
		{"template not passed", full, ""},
		{"template passed", full, tmpl},
		{"template unreadable", full, filepath.Join(t.TempDir(), "gone.pkr.hcl")},
	} {
		p := &PostProcessor{}
		p.config.run.template = tc.template
		sha := ""
		if tc.template == tmpl {
			sha = fd.Digest[len("sha256:"):]
		}
		want, err := json.Marshal(mapParameters(tc.t, rec, sha))
		if err != nil {
			t.Fatal(err)
		}
		inv := p.invocation(tc.t, rec)
		got, err := json.Marshal(inv.ExternalParameters)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
		var back builders.Parameters
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); back.Kind() != builders.MachineImage || string(again) != string(want) {
			t.Errorf("%s: decoded (%s) and encoded again:\n got %s\nwant %s", tc.name, back.Kind(), again, want)
		}
	}
}
