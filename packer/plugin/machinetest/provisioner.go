//go:generate packer-sdc mapstructure-to-hcl2 -type Config

// Package machinetest is the bakery-test provisioner: it tests a machine
// image before it is sealed. It runs the suites bakery.yaml configures for
// the target (container-structure-test files, docs/testing.md) inside the
// machine being built, through whatever communicator the builder gives it
// (bakery-chroot's chroot, SSH on a cloud builder): command tests run on
// the machine, killed at the suite's limit, their output capped, without a
// network where the machine can turn it off; file tests check the files
// collected from the machine with imagetest's own checks. Each suite's
// result is written next to the build, for the bakery post-processor to
// sign and attest with the machine-image record. A failing suite does not
// stop the build here: the post-processor records it and then fails.
package machinetest

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	pkrconfig "github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/packer/plugin/sbom"
	"github.com/bakeryhq/bakery/pipeline"
)

// Config is the provisioner's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// ConfigFile is bakery.yaml; default $BAKERY_CONFIG, then ./bakery.yaml.
	ConfigFile string `mapstructure:"config"`
	// Target is the bakery.yaml target; default $BAKERY_TARGET, then the build name.
	Target string `mapstructure:"target"`
	// Suites are the names of the target's suites to run; default every
	// suite with a file.
	Suites []string `mapstructure:"suites"`

	ctx interpolate.Context
}

// Provisioner is bakery-test.
type Provisioner struct {
	config Config
	// runUUID is the packer run, read once in Prepare.
	runUUID string
}

// ConfigSpec returns the HCL2 spec of Config.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes the configuration and applies the defaults.
func (p *Provisioner) Prepare(raws ...interface{}) error {
	if err := pkrconfig.Decode(&p.config, &pkrconfig.DecodeOpts{
		PluginType: "bakery-test", Interpolate: true, InterpolateContext: &p.config.ctx,
	}, raws...); err != nil {
		return err
	}
	c := &p.config
	c.ConfigFile, c.Target = config.PluginTarget(c.ConfigFile, c.Target, c.PackerBuildName)
	p.runUUID = env.Getenv(env.PackerRunUUID)
	return nil
}

// Provision runs the target's suites on the machine and writes their
// results. It fails only when a suite cannot be run at all (a bad suite
// file, a machine without timeout or tar): a suite that runs and FAILS is
// the post-processor's to record and to fail the build on.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	suites, err := p.suites()
	if err != nil {
		return fmt.Errorf("bakery-test: %w", err)
	}
	if len(suites) == 0 {
		ui.Say(fmt.Sprintf("bakery-test: target %q has no suite with a file in %s; nothing to run", p.config.Target, p.config.ConfigFile))
		return nil
	}
	m, platform, warning, err := probe(ctx, comm)
	if err != nil {
		return fmt.Errorf("bakery-test: %w", err)
	}
	if warning != "" {
		ui.Say("bakery-test: " + warning + "; command tests of suites without network: true will WARN")
	}
	runner := fmt.Sprintf("%s on %s", p.config.PackerBuilderType, hostname())
	for _, s := range suites {
		ui.Say(fmt.Sprintf("bakery-test: running suite %s (%s) on the machine", s.Name, s.File))
		img, err := Filesystem(ctx, comm, s, platform)
		if err != nil {
			return fmt.Errorf("bakery-test: suite %s: %w", s.Name, err)
		}
		res, err := imagetest.Run(ctx, s, img, m)
		if err != nil {
			return fmt.Errorf("bakery-test: suite %s: %w", s.Name, err)
		}
		res.Bakery.Runner = runner
		if !s.Network && len(s.CommandTests) > 0 && warning != "" {
			warnNetwork(&res, s, warning)
		}
		out := Output(p.config.PackerBuildName, s.Name)
		if err := writeResult(out, p.runUUID, res); err != nil {
			return fmt.Errorf("bakery-test: writing %s: %w", out, err)
		}
		ui.Say("bakery-test: " + res.Summary() + " -> " + out)
	}
	return nil
}

// suites loads the suites to run: the target's suites with a file, or
// those the template names.
func (p *Provisioner) suites() ([]*imagetest.Suite, error) {
	cfg, err := config.Load(config.Options{File: p.config.ConfigFile})
	if err != nil {
		return nil, err
	}
	t, err := cfg.LookupTarget(p.config.Target)
	if err != nil {
		return nil, err
	}
	return pipeline.LoadSuites(cfg, t, p.config.Suites)
}

// probe checks that the machine can run the suites (timeout and tar) and
// whether it can turn a test's network off (unshare -n), and reads its
// platform. warning says why the network cannot be turned off, if it
// cannot.
func probe(ctx context.Context, comm packersdk.Communicator) (*Machine, string, string, error) {
	const script = `uname -m
command -v timeout >/dev/null 2>&1 || echo no-timeout
command -v tar >/dev/null 2>&1 || echo no-tar
unshare -n true >/dev/null 2>&1 || echo no-unshare
`
	out, err := runScript(ctx, comm, script, maxListing)
	if err != nil {
		return nil, "", "", failure.New(failure.Unavailable, "the machine", fmt.Errorf("probing it: %w", err), "check the builder's communicator")
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return nil, "", "", failure.New(failure.Unavailable, "the machine", fmt.Errorf("uname -m printed nothing"), "check the builder's communicator")
	}
	m := &Machine{Comm: comm, Unshare: true}
	var warning string
	for _, l := range lines[1:] {
		switch l {
		case "no-timeout", "no-tar":
			tool := strings.TrimPrefix(l, "no-")
			return nil, "", "", failure.New(failure.Config, "the machine", fmt.Errorf("it has no %s, which bakery-test needs", tool),
				"install coreutils and tar (GNU) on the machine before the bakery-test provisioner")
		case "no-unshare":
			m.Unshare = false
			warning = "the network could not be turned off on this machine (unshare -n failed): the test ran with the machine's network"
		}
	}
	return m, "linux/" + sbom.GoArch(lines[0]), warning, nil
}

// warnNetwork makes each command test that passed WARN, saying why: the
// suite asked for no network and the machine could not turn it off. A
// result never claims an isolation that did not happen.
func warnNetwork(r *imagetest.Result, s *imagetest.Suite, why string) {
	commands := map[string]bool{}
	for _, t := range s.CommandTests {
		commands[t.Name] = true
	}
	var passed []string
	for _, name := range r.PassedTests {
		if !commands[name] {
			passed = append(passed, name)
			continue
		}
		r.WarnedTests = append(r.WarnedTests, name)
		r.Bakery.Problems = append(r.Bakery.Problems, imagetest.Problem{Test: name, Verdict: imagetest.Warned, Reason: why})
	}
	r.PassedTests = append([]string{}, passed...)
	if r.Result == imagetest.Passed && len(r.WarnedTests) > 0 {
		r.Result = imagetest.Warned
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown host"
	}
	return h
}
