package packer

import (
	"reflect"
	"testing"

	"github.com/bakeryhq/bakery/internal/config"
)

// Output captured from packer v1.12.0.
const (
	validateOutput = `Error: Unsupported argument

  on broken.pkr.hcl line 9:
  (source code not available)

An argument named "no_such_setting" is not expected here.

`
	buildOutput = `==> bakery-chroot.debian: Running post-processor:  (type bakery)
Build 'bakery-chroot.debian' errored after 12 seconds 332 milliseconds: 1 error(s) occurred:

* Post-processor failed: bakery: target "golden-ami": no SBOM at bakery-sbom-debian.json

==> Wait completed after 12 seconds 332 milliseconds

==> Some builds didn't complete successfully and had errors:
--> bakery-chroot.debian: 1 error(s) occurred:

* Post-processor failed: bakery: target "golden-ami": no SBOM at bakery-sbom-debian.json

==> Builds finished but no artifacts were created.
`
	provisionerOutput = `==> Some builds didn't complete successfully and had errors:
--> bakery-chroot.x: Script exited with non-zero exit status: 3. Allowed exit codes are: [0]

==> Builds finished but no artifacts were created.
`
)

func TestPackerError(t *testing.T) {
	for out, want := range map[string]string{
		validateOutput:               `Unsupported argument (broken.pkr.hcl line 9): An argument named "no_such_setting" is not expected here.`,
		buildOutput:                  `bakery-chroot.debian: Post-processor failed: bakery: target "golden-ami": no SBOM at bakery-sbom-debian.json`,
		provisionerOutput:            `bakery-chroot.x: Script exited with non-zero exit status: 3. Allowed exit codes are: [0]`,
		"panic: boom\ngoroutine 1\n": "panic: boom / goroutine 1",
	} {
		if got := packerError([]byte(out)); got != want {
			t.Errorf("packerError =\n  %s\nwant\n  %s", got, want)
		}
	}
}

// TestTemplateError tells a template packer build refused (exit 2) from a
// build that ran and failed (exit 3), from packer's own output.
func TestTemplateError(t *testing.T) {
	for out, want := range map[string]bool{
		validateOutput:    true,
		buildOutput:       false,
		provisionerOutput: false,
		"Error: Failed to prepare build: \"bakery-chroot.x\"\n\n1 error(s) occurred:\n\n* source_rootfs is required\n": true,
		"==> bakery-chroot.x: Error: unpacking failed\nBuild 'bakery-chroot.x' errored after 1 second: boom\n":         false,
		"panic: boom\n": false,
	} {
		if got := templateError([]byte(out)); got != want {
			t.Errorf("templateError(%q) = %v, want %v", out, got, want)
		}
	}
}

func TestArgs(t *testing.T) {
	b := &Builder{}
	got := b.args(&config.Target{
		Variables: map[string]string{"region": "us-east-1", "ami_name": "golden"},
		Only:      []string{"bakery-chroot.debian"}, Except: []string{"amazon-ebs.x", "amazon-ebs.y"},
	}, "/p/t.pkr.hcl")
	want := []string{"-var", "ami_name=golden", "-var", "region=us-east-1",
		"-only=bakery-chroot.debian", "-except=amazon-ebs.x,amazon-ebs.y", "/p/t.pkr.hcl"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}

func TestPackerVersion(t *testing.T) {
	for out, want := range map[string]string{"Packer v1.12.0\n": "1.12.0", "": "unknown", "oops": "unknown"} {
		if got := packerVersion([]byte(out)); got != want {
			t.Errorf("packerVersion(%q) = %q, want %q", out, got, want)
		}
	}
}
