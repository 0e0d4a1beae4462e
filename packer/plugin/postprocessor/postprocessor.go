//go:generate packer-sdc mapstructure-to-hcl2 -type Config

// Package postprocessor is the bakery post-processor: it is where a machine
// image's digest is born. It turns the artifact of any Packer builder into a
// machine-image record (package machineimage): AMI ids per region for the
// amazon builders (and bakery-chroot with ami_name), the files by digest for
// every other builder. It pushes the record to the first environment's
// repository of bakery.yaml, then publishes it exactly as `bakery build`
// publishes a container image, with the same code (pipeline.Publish): SBOM
// (from the bakery-sbom provisioner), SLSA provenance, cosign signature, build
// receipt, and only then the environment's tag.
package postprocessor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	pkrconfig "github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/packer/plugin/machinetest"
	"github.com/bakeryhq/bakery/packer/plugin/sbom"
	"github.com/bakeryhq/bakery/pipeline"
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
	// run is what `bakery build` passed through the environment, read once
	// in Configure.
	run runEnv
}

// runEnv is the part of internal/env's table the post-processor reads.
type runEnv struct {
	result, template, packerVersion, runUUID string
	started                                  time.Time
	noAttest                                 bool
}

func readRunEnv() runEnv {
	started, _ := time.Parse(time.RFC3339Nano, env.Getenv(env.PackerStarted))
	return runEnv{
		result: env.Getenv(env.PackerResult), template: env.Getenv(env.PackerTemplate),
		packerVersion: env.Getenv(env.PackerVersion), runUUID: env.Getenv(env.PackerRunUUID),
		started: started.UTC(), noAttest: env.Getenv(env.PackerNoAttest) == "1",
	}
}

// PostProcessor is the bakery post-processor.
type PostProcessor struct {
	config  Config
	Version string
	// key is the signing key, decrypted from Configure on, while the
	// machine is built.
	key *attest.PendingSigner
}

// loadKey starts decrypting the signing key that configFile names.
func loadKey(configFile string) *attest.PendingSigner {
	return attest.LoadSignerAsync(func() (signature.SignerVerifier, error) {
		cfg, err := config.Load(config.Options{File: configFile})
		if err != nil {
			return nil, err
		}
		return attest.SignerFor(context.Background(), cfg.Signing, config.SigningPassword())
	})
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
	c.run = readRunEnv()
	c.ConfigFile, c.Target = config.PluginTarget(c.ConfigFile, c.Target, c.PackerBuildName)
	c.SBOM = first(c.SBOM, sbom.DefaultOutput(c.PackerBuildName))
	if !c.run.noAttest {
		p.key = loadKey(c.ConfigFile)
	}
	return nil
}

// PostProcess publishes the artifact. The builder's artifact is kept.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	built, err := p.publish(ctx, ui, a)
	if err != nil {
		return nil, false, false, fmt.Errorf("bakery: target %q: %w", p.config.Target, err)
	}
	if path := p.config.run.result; path != "" {
		if err := appendResult(path, built); err != nil {
			return nil, false, false, fmt.Errorf("bakery: writing the result for bakery: %w", err)
		}
	}
	ui.Say(fmt.Sprintf("bakery: published %s (tag %v)", built.Reference(), built.Tags))
	return &Artifact{Ref: built.Reference(), Inner: a}, true, false, nil
}

// publish pushes the artifact's machine-image record and publishes it with
// pipeline.Publish.
func (p *PostProcessor) publish(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (*pipeline.Built, error) {
	cfg, err := config.Load(config.Options{File: p.config.ConfigFile})
	if err != nil {
		return nil, err
	}
	ctx = cfg.Context(ctx) // registry.attempts and the timeouts, as the CLI's
	t, err := cfg.LookupTarget(p.config.Target)
	if err != nil {
		return nil, err
	}
	firstEnv := &cfg.Environments[0]
	tag, err := firstEnv.Locate(t.Name)
	if err != nil {
		return nil, err
	}
	repo := tag.Context()
	if err := sbom.Wait(ctx, p.config.SBOM, p.config.run.runUUID); err != nil {
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
	tests, err := p.readTests(ui, t)
	if err != nil {
		return nil, err
	}
	// The signing key is loaded before anything is pushed.
	opts, err := p.publishOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(tests) > 0 {
		// Signed as bakery build signs its own suites' results (with the
		// receipt signer), before anything is attested or tagged.
		opts.Test = func(ctx context.Context, ref name.Digest) error {
			ui.Say(fmt.Sprintf("bakery: recording %d bakery-test result(s)", len(tests)))
			return pipeline.RecordResults(ctx, opts.Receipts, t, ref, "", rec.Platform, tests)
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
		ui.Say("bakery: --no-attest: not attesting or signing; tagging " + firstEnv.Name)
	} else {
		ui.Say("bakery: attesting (SBOM, SLSA provenance, signature) and tagging " + firstEnv.Name)
	}
	built, err := pipeline.Publish(ctx, firstEnv, ref, res, opts)
	if err != nil {
		return nil, err
	}
	return &built, nil
}

// publishOptions loads the signing key and makes the attester, unless
// bakery build passed --no-attest.
func (p *PostProcessor) publishOptions(ctx context.Context, cfg *config.Config) (pipeline.PublishOptions, error) {
	opts := pipeline.PublishOptions{Version: p.Version}
	if p.config.run.noAttest {
		return opts, nil
	}
	attestOpts := attest.Options{Version: p.Version, BuilderSBOMs: true} // the SBOM is bakery-sbom's
	if p.key == nil {
		p.key = loadKey(p.config.ConfigFile)
	}
	signer, err := p.key.Get(ctx)
	if err != nil {
		return opts, err
	}
	opts.Attester, opts.Receipts, err = pipeline.AttesterWith(cfg, attestOpts, signer)
	return opts, err
}

// readTests reads the results the bakery-test provisioner wrote in this
// packer run for t's suites with a file. A target with such suites and no
// result of this run is a template without the provisioner.
func (p *PostProcessor) readTests(ui packersdk.Ui, t *config.Target) ([]imagetest.Result, error) {
	var suites []string
	for _, s := range t.RunnableTests() {
		suites = append(suites, s.Name)
	}
	if len(suites) == 0 {
		return nil, nil
	}
	results, err := machinetest.Results(p.config.PackerBuildName, suites, p.config.run.runUUID)
	if errors.Is(err, machinetest.ErrNoResults) {
		return nil, failure.New(failure.Config, "provisioner bakery-test",
			fmt.Errorf("bakery.yaml gives the target suites to run (%s), and there is %w", strings.Join(suites, ", "), err),
			`add provisioner "bakery-test" {} to the template's build, after the provisioners that change the machine`)
	}
	if err == nil && len(results) < len(suites) {
		ran := map[string]bool{}
		for _, r := range results {
			ran[r.Bakery.Suite] = true
		}
		for _, s := range suites {
			if !ran[s] {
				ui.Say(fmt.Sprintf("bakery: suite %s did not run in this build (bakery-test's suites leave it out): tested will deny this machine image", s))
			}
		}
	}
	return results, err
}

// readSBOM reads the bakery-sbom provisioner's output, refusing one left
// over from another packer run: a record must describe this build's machine.
func (p *PostProcessor) readSBOM() ([]byte, error) {
	const hint = "add the bakery-sbom provisioner to the build, or point sbom at its output"
	doc, err := os.ReadFile(p.config.SBOM)
	if err != nil {
		return nil, fmt.Errorf("no SBOM at %s (%w); %s", p.config.SBOM, err, hint)
	}
	run, got := p.config.run.runUUID, sbom.ReadDescriptor(doc).PackerRunUUID
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
		Platform: first(p.config.Platform, sbom.ReadDescriptor(doc).Platform, str(gen["Platform"])),
		Build: machineimage.Build{
			Packer: p.config.run.packerVersion, Plugin: p.Version,
			BuildName: p.config.PackerBuildName, BuilderType: p.config.PackerBuilderType,
			BuilderID: a.BuilderId(), ArtifactID: a.Id(),
			StartedOn: rfc3339(p.config.run.started), FinishedOn: rfc3339(time.Now()),
		},
	}
	if rec.Platform == "" {
		return nil, errors.New("unknown platform: set platform, or run bakery-sbom, which records it")
	}
	if amis, ok := machineimage.ParseAMIs(a.Id()); ok {
		rec.AMIs, rec.Regions = amis, machineimage.SortedRegions(amis)
	}
	for _, f := range a.Files() {
		fd, err := machineimage.FileOf(f)
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
	params := &builders.MachineImageParameters{
		Target: t.Name, BuildName: rec.Build.BuildName, BuilderType: rec.Build.BuilderType,
		ArtifactID: rec.Build.ArtifactID, Variables: t.Variables, Only: t.Only, Except: t.Except,
	}
	if t.Template != "" {
		params.Template = &builders.Input{Path: t.Template}
		if path := p.config.run.template; path != "" {
			if fd, err := machineimage.FileOf(path); err == nil {
				params.Template.Digest = map[string]string{"sha256": fd.Digest[len("sha256:"):]}
			}
		}
	}
	inv := &builders.Invocation{StartedOn: p.config.run.started, FinishedOn: time.Now(),
		ExternalParameters: builders.Parameters{MachineImage: params}}
	if rec.Source != nil {
		inv.ResolvedDependencies = []builders.Dependency{{URI: rec.Source.URI, Digest: rec.Source.Digest}}
	}
	return inv
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

// Artifact is the published machine image; Id is repository@digest.
type Artifact struct {
	Ref   string
	Inner packersdk.Artifact
}

// BuilderId is ArtifactID (the name is Packer's).
func (a *Artifact) BuilderId() string { return ArtifactID }

// Files is empty: the record is in the registry, the files stay the builder's.
func (a *Artifact) Files() []string { return nil }

// Id is repository@digest of the record (the name is Packer's).
func (a *Artifact) Id() string { return a.Ref }

// String describes the artifact.
func (a *Artifact) String() string { return "bakery machine-image record " + a.Ref }

// State is the builder's artifact's state.
func (a *Artifact) State(name string) interface{} { return a.Inner.State(name) }

// Destroy keeps everything: the record lives on in the registry.
func (a *Artifact) Destroy() error { return nil }
