//go:generate packer-sdc mapstructure-to-hcl2 -type Config

// Package sbom is the bakery-sbom provisioner. It runs inside the machine
// being built, through whatever communicator the builder gives it (SSH,
// WinRM, chroot), and takes the package databases the machine holds (dpkg,
// rpm, apk), its os-release and its copyright files. It then catalogs them
// with syft on the machine running Packer, so nothing needs to be installed
// in the image. The result is a syft JSON SBOM file that the bakery
// post-processor attests.
package sbom

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/sbom"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakerysbom "github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/internal/env"

	// syft's RPM cataloger needs a database/sql driver, as in syft's own CLI.
	_ "github.com/glebarez/go-sqlite"
)

// DefaultOutput is where the SBOM of a build is written unless output is
// set; the bakery post-processor reads the same default.
func DefaultOutput(buildName string) string { return "bakery-sbom-" + buildName + ".json" }

// Paths are what the provisioner collects, relative to the machine's root:
// the package databases syft's dpkg, rpm and apk catalogers read, the
// os-release that names the distribution, and the copyright files the dpkg
// cataloger reads licenses from.
var Paths = []string{
	"etc/os-release", "usr/lib/os-release",
	"var/lib/dpkg/status", "var/lib/dpkg/status.d",
	"var/lib/rpm", "usr/lib/sysimage/rpm",
	"lib/apk/db/installed",
	"usr/share/doc/*/copyright",
}

// Config is the provisioner's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// Output is the SBOM file written on the machine running Packer.
	Output string `mapstructure:"output"`
	// ToolVersion is recorded as bakery's version in the SBOM.
	ToolVersion string `mapstructure:"tool_version"`
	// Background catalogs the collected databases while the build goes on
	// (the builder packs the image meanwhile): Provision returns once they
	// are collected. Only for builds that end with bakery's post-processor,
	// which waits for the SBOM; Packer may stop the plugin before a build
	// without it reads the file.
	Background bool `mapstructure:"background"`

	ctx interpolate.Context
}

// Provisioner is bakery-sbom.
type Provisioner struct {
	config Config
	// Version is the plugin's version, the SBOM's tool version by default.
	Version string
	// licenses is syft's license scanner (a second of CPU to build), started
	// in Prepare so that it is built while the machine is.
	licenses *bakerysbom.LicenseScanner
	// runUUID is the packer run, read once in Prepare.
	runUUID string
}

// ConfigSpec returns the HCL2 spec of Config.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes and checks the configuration.
func (p *Provisioner) Prepare(raws ...interface{}) error {
	if err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType: "bakery-sbom", Interpolate: true, InterpolateContext: &p.config.ctx,
	}, raws...); err != nil {
		return err
	}
	if p.config.Output == "" {
		p.config.Output = DefaultOutput(p.config.PackerBuildName)
	}
	if p.config.ToolVersion == "" {
		p.config.ToolVersion = p.Version
	}
	p.licenses = bakerysbom.NewLicenseScanner()
	p.runUUID = env.Getenv(env.PackerRunUUID)
	return nil
}

// Provision collects the package databases through comm and writes the SBOM.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	ui.Say("bakery-sbom: collecting package databases from the machine")
	dir, err := os.MkdirTemp("", "bakery-sbom-")
	if err != nil {
		return err
	}
	collected := false
	defer func() {
		if !collected {
			os.RemoveAll(dir)
		}
	}()

	arch, err := run(ctx, comm, "uname -m")
	if err != nil {
		return fmt.Errorf("bakery-sbom: reading the machine's architecture: %w", err)
	}
	files, err := Collect(ctx, comm, dir)
	if err != nil {
		return fmt.Errorf("bakery-sbom: collecting package databases: %w", err)
	}
	if files == 0 {
		return errors.New("bakery-sbom: the machine has none of " + strings.Join(Paths, ", ") + "; is it a Linux machine with dpkg, rpm or apk?")
	}
	collected = true // dir is catalog's now
	platform := "linux/" + GoArch(strings.TrimSpace(arch))
	if !p.config.Background {
		defer os.RemoveAll(dir)
		said, err := p.catalog(ctx, dir, platform)
		if err == nil {
			ui.Say(said)
		}
		return err
	}
	if err := startPending(p.config.Output, p.runUUID); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("bakery-sbom: %w", err)
	}
	ui.Say("bakery-sbom: cataloguing in the background while the build goes on; bakery's post-processor waits for " + p.config.Output)
	go func() { // the build's ui is not ours to use once Provision returns
		defer os.RemoveAll(dir)
		_, err := p.catalog(context.Background(), dir, platform)
		finishPending(p.config.Output, p.runUUID, err)
	}()
	return nil
}

// catalog catalogs the databases collected in dir, writes the SBOM and
// says what it wrote.
func (p *Provisioner) catalog(ctx context.Context, dir, platform string) (string, error) {
	ctx, cancel, err := p.licenses.Context(ctx)
	if err != nil {
		return "", fmt.Errorf("bakery-sbom: preparing the license scanner: %w", err)
	}
	defer cancel()
	s, err := Catalog(ctx, dir, Descriptor{Platform: platform, PackerRunUUID: p.runUUID}, p.config.ToolVersion)
	if err != nil {
		return "", fmt.Errorf("bakery-sbom: %w", err)
	}
	if err := write(p.config.Output, s); err != nil {
		return "", fmt.Errorf("bakery-sbom: writing %s: %w", p.config.Output, err)
	}
	return fmt.Sprintf("bakery-sbom: %d packages (%s) -> %s", s.Artifacts.Packages.PackageCount(), platform, p.config.Output), nil
}

// run runs a command on the machine and returns its standard output.
func run(ctx context.Context, comm packersdk.Communicator, command string) (string, error) {
	var out, errb strings.Builder
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: &out, Stderr: &errb}
	if err := comm.Start(ctx, cmd); err != nil {
		return "", err
	}
	if st := cmd.Wait(); st != 0 {
		return "", fmt.Errorf("%q exited %d: %s", command, st, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Collect streams a tar of the Paths that exist on the machine (one command,
// so it is as fast over SSH as in a chroot), unpacks it into dir and returns
// the number of files.
func Collect(ctx context.Context, comm packersdk.Communicator, dir string) (int, error) {
	pr, pw := io.Pipe()
	var errb strings.Builder
	cmd := &packersdk.RemoteCmd{
		Command: "cd / && ls -d " + strings.Join(Paths, " ") + " 2>/dev/null | tar -cf - -T -",
		Stdout:  pw, Stderr: &errb,
	}
	if err := comm.Start(ctx, cmd); err != nil {
		return 0, err
	}
	go func() {
		st := cmd.Wait()
		if st != 0 {
			pw.CloseWithError(fmt.Errorf("tar exited %d on the machine: %s", st, strings.TrimSpace(errb.String())))
			return
		}
		pw.Close()
	}()
	n, err := untar(pr, dir)
	_, _ = io.Copy(io.Discard, pr)
	return n, err
}

// untar unpacks regular files and directories, refusing paths that leave dir.
func untar(r io.Reader, dir string) (int, error) {
	tr := tar.NewReader(r)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return n, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return n, err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return n, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
}

// Catalog runs syft over the collected files as the filesystem of a machine
// image and writes d (the platform, the packer run) into the SBOM's
// descriptor configuration.
func Catalog(ctx context.Context, dir string, d Descriptor, toolVersion string) (*sbom.SBOM, error) {
	src, err := syft.GetSource(ctx, dir, syft.DefaultGetSourceConfig().WithSources("dir"))
	if err != nil {
		return nil, fmt.Errorf("reading the collected files: %w", err)
	}
	defer src.Close()
	s, err := syft.CreateSBOM(ctx, src, bakerysbom.SyftConfig(toolVersion))
	if err != nil {
		return nil, fmt.Errorf("cataloging: %w", err)
	}
	s.Descriptor.Configuration = map[string]any{"platform": d.Platform, "collected": Paths, "packerRunUUID": d.PackerRunUUID}
	return s, nil
}

// Descriptor is what Catalog writes into a syft JSON SBOM's descriptor: the
// machine's platform, and the packer run (PACKER_RUN_UUID, one id per
// `packer build` that every plugin process inherits) that made it.
type Descriptor struct {
	Platform      string `json:"platform"`
	PackerRunUUID string `json:"packerRunUUID"`
}

// ReadDescriptor returns what Catalog wrote into a syft JSON SBOM.
func ReadDescriptor(syftJSON []byte) Descriptor {
	var doc struct {
		Descriptor struct {
			Configuration Descriptor `json:"configuration"`
		} `json:"descriptor"`
	}
	_ = json.Unmarshal(syftJSON, &doc)
	return doc.Descriptor.Configuration
}

func write(path string, s *sbom.SBOM) error {
	enc, err := syftjson.NewFormatEncoderWithConfig(syftjson.DefaultEncoderConfig())
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := enc.Encode(f, *s); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// GoArch maps uname -m to Go's (and OCI's) architecture names.
func GoArch(m string) string {
	switch m {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i686":
		return "386"
	case "armv7l":
		return "arm"
	}
	return m
}
