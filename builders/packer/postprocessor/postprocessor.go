//go:generate packer-sdc mapstructure-to-hcl2 -type Config

// Package postprocessor is the bakery post-processor: it is where a machine
// image's digest is born. It turns the artifact of any Packer builder into a
// machine-image record (builders/machineimage): AMI ids per region for the
// amazon builders (and bakery-chroot with ami_name), the files by digest for
// every other builder. It pushes the record to the first environment's
// repository of bakery.yaml, then records it exactly as `bakery build`
// records a container image, with the same code (pipeline.Record): SBOM
// (from the bakery-sbom provisioner), SLSA provenance, cosign signature, build
// receipt, and only then the environment's tag.
package postprocessor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	pkrconfig "github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/machineimage"
	"github.com/bakeryhq/bakery/builders/packer"
	"github.com/bakeryhq/bakery/builders/packer/sbom"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/pipeline"
)

// ArtifactID is the BuilderId of the artifact the post-processor returns.
const ArtifactID = "bakery.machine-image"

// Config is the post-processor's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// ConfigFile is bakery.yaml; default $BAKERY_CONFIG, then ./bakery.yaml.
	ConfigFile string `mapstructure:"config"`
	// Target is the bakery.yaml target; default $BAKERY_TARGET, then the build name.
	Target string `mapstructure:"target"`
	// SBOM is the bakery-sbom provisioner's output; default its default.
	SBOM string `mapstructure:"sbom"`
	// Source names the image the build started from (e.g. build.SourceAMI);
	// default the builder's generated SourceAMI or SourceRootfs.
	Source string `mapstructure:"source"`
	// Platform is os/arch; default the one bakery-sbom recorded.
	Platform string `mapstructure:"platform"`

	ctx interpolate.Context
}

// PostProcessor is the bakery post-processor.
type PostProcessor struct {
	config  Config
	Version string
}

// ConfigSpec returns the HCL2 spec of Config.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes the configuration and applies the defaults.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	if err := pkrconfig.Decode(&p.config, &pkrconfig.DecodeOpts{
		PluginType: "bakery", Interpolate: true, InterpolateContext: &p.config.ctx,
	}, raws...); err != nil {
		return err
	}
	c := &p.config
	c.ConfigFile = first(c.ConfigFile, os.Getenv(packer.EnvConfig), "bakery.yaml")
	c.Target = first(c.Target, os.Getenv(packer.EnvTarget), c.PackerBuildName)
	c.SBOM = first(c.SBOM, sbom.DefaultOutput(c.PackerBuildName))
	return nil
}

// PostProcess records the artifact. The builder's artifact is kept.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	built, err := p.record(ctx, ui, a)
	if err != nil {
		return nil, false, false, fmt.Errorf("bakery: target %q: %w", p.config.Target, err)
	}
	if path := os.Getenv(packer.EnvResult); path != "" {
		if err := appendResult(path, built); err != nil {
			return nil, false, false, fmt.Errorf("bakery: writing the result for bakery: %w", err)
		}
	}
	ui.Say(fmt.Sprintf("bakery: recorded %s (tag %v)", built.Reference(), built.Tags))
	return &Artifact{Ref: built.Reference(), Inner: a}, true, false, nil
}

func (p *PostProcessor) record(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (*pipeline.Built, error) {
	cfg, err := config.Load(config.Options{File: p.config.ConfigFile})
	if err != nil {
		return nil, err
	}
	t, err := cfg.LookupTarget(p.config.Target)
	if err != nil {
		return nil, err
	}
	env := &cfg.Environments[0]
	repo, err := env.RepositoryFor(t.Name)
	if err != nil {
		return nil, err
	}
	doc, err := p.readSBOM()
	if err != nil {
		return nil, err
	}
	rec, err := p.newRecord(t.Name, a, doc)
	if err != nil {
		return nil, err
	}
	// The signing key is loaded before anything is pushed.
	opts := pipeline.RecordOptions{Version: p.Version}
	if os.Getenv(packer.EnvNoAttest) != "1" {
		attestOpts := attest.Options{Version: p.Version, BuilderSBOMs: true} // the SBOM is bakery-sbom's
		if opts.Attester, opts.Receipts, err = pipeline.NewAttester(ctx, cfg, attestOpts); err != nil {
			return nil, err
		}
	}
	ui.Say(fmt.Sprintf("bakery: pushing the machine-image record of %s to %s", a.Id(), repo))
	ref, size, err := machineimage.Push(ctx, repo, rec)
	if err != nil {
		return nil, err
	}
	digest, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, err
	}
	res := builders.Result{
		Target: t.Name, Kind: builders.MachineImage, Repository: repo.String(),
		Digest: digest, MediaType: machineimage.ArtifactType,
		Platforms: []string{rec.Platform}, Size: size,
		Builder:    builders.Info{Name: "packer", Version: rec.Build.Packer},
		Invocation: p.invocation(t, rec),
		SBOM:       doc,
	}
	if opts.Attester == nil {
		ui.Say("bakery: --no-attest: not attesting or signing; tagging " + env.Name)
	} else {
		ui.Say("bakery: attesting (SBOM, SLSA provenance, signature) and tagging " + env.Name)
	}
	built, err := pipeline.Record(ctx, env, ref, res, opts)
	if err != nil {
		return nil, err
	}
	return &built, nil
}

// readSBOM reads the bakery-sbom provisioner's output, refusing one left
// over from another packer run: a record must describe this build's machine.
func (p *PostProcessor) readSBOM() ([]byte, error) {
	const hint = "add the bakery-sbom provisioner to the build, or point sbom at its output"
	doc, err := os.ReadFile(p.config.SBOM)
	if err != nil {
		return nil, fmt.Errorf("no SBOM at %s (%w); %s", p.config.SBOM, err, hint)
	}
	run, got := os.Getenv(sbom.EnvRunUUID), sbom.ReadRecorded(doc).PackerRunUUID
	if run != "" && got != run {
		return nil, fmt.Errorf("the SBOM at %s was not made by this packer run (run %q, SBOM from %q); %s", p.config.SBOM, run, got, hint)
	}
	return doc, nil
}

// newRecord describes the builder's artifact.
func (p *PostProcessor) newRecord(target string, a packersdk.Artifact, doc []byte) (*machineimage.Record, error) {
	gen := generatedData(a)
	rec := &machineimage.Record{
		Target:   target,
		Platform: first(p.config.Platform, sbom.ReadRecorded(doc).Platform, str(gen["Platform"])),
		Build: machineimage.Build{
			Packer: os.Getenv(packer.EnvPacker), Plugin: p.Version,
			BuildName: p.config.PackerBuildName, BuilderType: p.config.PackerBuilderType,
			BuilderID: a.BuilderId(), ArtifactID: a.Id(),
			StartedOn: rfc3339(startedOn()), FinishedOn: rfc3339(time.Now()),
		},
	}
	if rec.Platform == "" {
		return nil, errors.New("unknown platform: set platform, or run bakery-sbom, which records it")
	}
	if amis, ok := machineimage.ParseAMIs(a.Id()); ok {
		rec.AMIs, rec.Regions = amis, machineimage.SortedRegions(amis)
	}
	for _, f := range a.Files() {
		fd, err := fileOf(f)
		if err != nil {
			return nil, err
		}
		rec.Files = append(rec.Files, fd)
	}
	if len(rec.AMIs) == 0 && len(rec.Files) == 0 {
		return nil, fmt.Errorf("the %s artifact %q has neither AMI ids nor files to record", a.BuilderId(), a.Id())
	}
	switch {
	case p.config.Source != "":
		rec.Source = &machineimage.Source{URI: p.config.Source}
	case str(gen["SourceAMI"]) != "":
		rec.Source = &machineimage.Source{URI: "ami:" + str(gen["SourceAMI"])}
	case str(gen["SourceRootfs"]) != "":
		rec.Source = &machineimage.Source{URI: "file://" + str(gen["SourceRootfs"])}
		if d := str(gen["SourceRootfsDigest"]); len(d) > 7 {
			rec.Source.Digest = map[string]string{"sha256": d[len("sha256:"):]}
		}
	}
	return rec, nil
}

// invocation is the provenance of the build: the template by digest, the
// variables and selection bakery passed, the Packer build, the source image.
func (p *PostProcessor) invocation(t *config.Target, rec *machineimage.Record) *builders.Invocation {
	params := map[string]any{
		"target": t.Name, "buildName": rec.Build.BuildName, "builderType": rec.Build.BuilderType,
		"artifactId": rec.Build.ArtifactID,
	}
	if t.Template != "" {
		tmpl := map[string]any{"path": t.Template}
		if path := os.Getenv(packer.EnvTemplate); path != "" {
			if fd, err := fileOf(path); err == nil {
				tmpl["digest"] = map[string]string{"sha256": fd.Digest[len("sha256:"):]}
			}
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
	inv := &builders.Invocation{StartedOn: startedOn(), FinishedOn: time.Now(), ExternalParameters: params}
	if rec.Source != nil {
		inv.ResolvedDependencies = []builders.Dependency{{URI: rec.Source.URI, Digest: rec.Source.Digest}}
	}
	return inv
}

// startedOn is when `bakery build` started packer, or zero (unknown) when
// packer runs on its own: post-processors are configured after the build.
func startedOn() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, os.Getenv(packer.EnvStarted))
	return t.UTC()
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// appendResult adds one JSON line for `bakery build` to read.
func appendResult(path string, b *pipeline.Built) error {
	line, err := json.Marshal(b)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileOf(path string) (machineimage.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return machineimage.File{}, fmt.Errorf("artifact file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return machineimage.File{}, fmt.Errorf("artifact file %s: %w", path, err)
	}
	return machineimage.File{Name: filepath.Base(path), Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// generatedData is the builder's generated data (SourceAMI, SourceRootfs...).
// Across packer's RPC it arrives as map[interface{}]interface{}.
func generatedData(a packersdk.Artifact) map[string]interface{} {
	out := map[string]interface{}{}
	switch m := a.State("generated_data").(type) {
	case map[string]interface{}:
		return m
	case map[interface{}]interface{}:
		for k, v := range m {
			if ks, ok := k.(string); ok {
				out[ks] = v
			}
		}
	}
	return out
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func str(v interface{}) string {
	s, _ := v.(string)
	return s
}

// Artifact is the recorded machine image; Id is repository@digest.
type Artifact struct {
	Ref   string
	Inner packersdk.Artifact
}

func (a *Artifact) BuilderId() string             { return ArtifactID }
func (a *Artifact) Files() []string               { return nil }
func (a *Artifact) Id() string                    { return a.Ref }
func (a *Artifact) String() string                { return "bakery machine-image record " + a.Ref }
func (a *Artifact) State(name string) interface{} { return a.Inner.State(name) }
func (a *Artifact) Destroy() error                { return nil }
