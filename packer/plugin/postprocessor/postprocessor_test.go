package postprocessor

import (
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/packer/plugin/machinetest"

	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// sbomDoc is the descriptor part of a bakery-sbom document.
const sbomDoc = `{"descriptor":{"configuration":{"platform":"linux/arm64","packerRunUUID":"run-1"}}}`

func TestNewRecordFromAmazonArtifact(t *testing.T) {
	p := &PostProcessor{}
	a := &packersdk.MockArtifact{
		BuilderIdValue: "mitchellh.amazonebs",
		IdValue:        "us-east-1:ami-0aaa,eu-west-1:ami-0bbb",
		FilesValue:     []string{},
		// As it arrives across packer's RPC.
		StateValues: map[string]interface{}{"generated_data": map[interface{}]interface{}{"SourceAMI": "ami-0src"}},
	}
	rec, err := p.newRecord("golden-ami", a, []byte(sbomDoc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.AMIs, map[string]string{"us-east-1": "ami-0aaa", "eu-west-1": "ami-0bbb"}) ||
		!reflect.DeepEqual(rec.Regions, []string{"eu-west-1", "us-east-1"}) || rec.Platform != "linux/arm64" ||
		rec.Source == nil || rec.Source.URI != "ami:ami-0src" || rec.Build.BuilderID != "mitchellh.amazonebs" {
		t.Errorf("record %+v", rec)
	}
}

func TestNewRecordFromFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(f, []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &PostProcessor{}
	rec, err := p.newRecord("vm", &packersdk.MockArtifact{IdValue: f, FilesValue: []string{f}}, []byte(sbomDoc))
	if err != nil {
		t.Fatal(err)
	}
	const sha256OfDisk = "sha256:1044dec7206e8d7c9fbb4ae8f766668406d2567fc7fc1a160a9d4700fcf8f8e9"
	if len(rec.AMIs) != 0 || len(rec.Files) != 1 || rec.Files[0].Name != "disk.qcow2" || rec.Files[0].Size != 4 ||
		rec.Files[0].Digest != sha256OfDisk {
		t.Errorf("record %+v", rec)
	}
	if _, err := p.newRecord("vm", &packersdk.MockArtifact{IdValue: "nothing", FilesValue: []string{}}, []byte(sbomDoc)); err == nil {
		t.Error("an artifact with neither AMIs nor files was recorded")
	}
}

func TestReadSBOMRefusesAnotherRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(path, []byte(sbomDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	// The run comes from the environment packer gives the plugin, read once
	// in Configure.
	configure := func(run string) *PostProcessor {
		t.Setenv(string(env.PackerRunUUID), run)
		p := &PostProcessor{}
		if err := p.Configure(map[string]interface{}{"sbom": path}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := configure("run-1")
	if _, err := p.readSBOM(); err != nil {
		t.Errorf("same run: %v", err)
	}
	p = configure("run-2")
	if _, err := p.readSBOM(); err == nil || !strings.Contains(err.Error(), "not made by this packer run") {
		t.Errorf("other run: %v", err)
	}
	p.config.SBOM = filepath.Join(t.TempDir(), "missing.json")
	if _, err := p.readSBOM(); err == nil || !strings.Contains(err.Error(), "add the bakery-sbom provisioner") {
		t.Errorf("missing: %v", err)
	}
}

// TestReadTestsNeedsTheProvisioner: a target with suites bakery runs and no
// bakery-test result of this packer run is a template without the
// provisioner, a config error saying to add it; without suites, nothing is
// read.
func TestReadTestsNeedsTheProvisioner(t *testing.T) {
	t.Chdir(t.TempDir())
	p := &PostProcessor{}
	p.config.PackerBuildName, p.config.run.runUUID = "debian", "run-1"
	tgt := &config.Target{Name: "golden-ami", Type: config.TypePacker, Tests: []config.Test{{Name: "hardening", File: "h.yaml"}, {Name: "smoke", External: true}}}
	ui := packersdk.TestUi(t)
	_, err := p.readTests(ui, tgt)
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), `provisioner "bakery-test" {}`) || !strings.Contains(err.Error(), "hardening") {
		t.Errorf("no result: %v", err)
	}
	tgt.Tests = append(tgt.Tests, config.Test{Name: "network", File: "n.yaml"})
	if err := os.WriteFile(machinetest.Output("debian", "hardening"), []byte(`{"packerRunUUID":"run-1","result":{"result":"PASSED","bakery":{"suite":"hardening"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := p.readTests(ui, tgt); err != nil || len(got) != 1 || got[0].Bakery.Suite != "hardening" || got[0].Result != "PASSED" {
		t.Errorf("this run's result of one of two suites: %+v, %v", got, err)
	}
	p.config.run.runUUID = "run-2"
	if _, err := p.readTests(ui, tgt); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "another packer run") {
		t.Errorf("another run's result: %v, want the missing-provisioner error naming the leftover", err)
	}
	if got, err := p.readTests(ui, &config.Target{Name: "plain", Tests: []config.Test{{Name: "smoke", External: true}}}); got != nil || err != nil {
		t.Errorf("no suite bakery runs: %v, %v", got, err)
	}
}
