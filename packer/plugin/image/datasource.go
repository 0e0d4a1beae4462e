//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput

// Package image is the bakery-image data source. It answers "which image is
// in this environment" for downstream Packer templates, and only with a
// verified answer: it resolves the environment's tag once, verifies the
// digest's signature and attestations with bakery.yaml's verification keys,
// requires a verified receipt for that environment, and then returns the
// digest and, for a machine image, its AMI id in the requested region.
package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	pkrconfig "github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/promote"
)

// Config is the data source's configuration.
type Config struct {
	// ConfigFile is bakery.yaml; default $BAKERY_CONFIG, then ./bakery.yaml.
	ConfigFile string `mapstructure:"config"`
	// Target is the bakery.yaml target.
	Target string `mapstructure:"target" required:"true"`
	// Environment is the environment to read.
	Environment string `mapstructure:"environment" required:"true"`
	// Region selects ami_id among the image's AMIs.
	Region string `mapstructure:"region"`
}

// DatasourceOutput is what templates read as data.bakery-image.NAME.*.
type DatasourceOutput struct {
	Digest    string            `mapstructure:"digest"`
	Reference string            `mapstructure:"reference"`
	Kind      string            `mapstructure:"kind"`
	AMIID     string            `mapstructure:"ami_id"`
	AMIs      map[string]string `mapstructure:"amis"`
	Signer    string            `mapstructure:"signer"`
	Time      string            `mapstructure:"promoted_at"`
}

// Datasource is bakery-image.
type Datasource struct{ config Config }

// ConfigSpec returns the HCL2 spec of Config.
func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

// OutputSpec returns the HCL2 spec of DatasourceOutput.
func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

// Configure decodes and checks the configuration.
func (d *Datasource) Configure(raws ...interface{}) error {
	if err := pkrconfig.Decode(&d.config, nil, raws...); err != nil {
		return err
	}
	if d.config.Target == "" || d.config.Environment == "" {
		return errors.New("bakery-image: target and environment are required")
	}
	if d.config.ConfigFile == "" {
		d.config.ConfigFile = env.Getenv(env.Config)
	}
	if d.config.ConfigFile == "" {
		d.config.ConfigFile = config.DefaultFile
	}
	return nil
}

// Execute reads and verifies the environment's image.
func (d *Datasource) Execute() (cty.Value, error) {
	out, err := Lookup(context.Background(), d.config)
	if err != nil {
		return cty.NullVal(cty.EmptyObject), fmt.Errorf("bakery-image: %w", err)
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}

// Lookup resolves and verifies what c.Environment runs for c.Target.
func Lookup(ctx context.Context, c Config) (DatasourceOutput, error) {
	cfg, err := config.Load(config.Options{File: c.ConfigFile})
	if err != nil {
		return DatasourceOutput{}, err
	}
	// registry.attempts, the request timeouts and registry.timeout, as the
	// CLI's status applies them.
	ctx = cfg.Context(ctx)
	if _, _, timeout := cfg.Registry.Durations(); timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	verifier, err := attest.NewVerifier(ctx, attest.FromConfig, cfg.Verification.Keys)
	if err != nil {
		return DatasourceOutput{}, err
	}
	st, err := promote.StatusOf(ctx, cfg, verifier, c.Target, c.Environment)
	if err != nil {
		return DatasourceOutput{}, err
	}
	subject := fmt.Sprintf("target %q in environment %q", c.Target, c.Environment)
	switch {
	case st.Digest == "":
		return DatasourceOutput{}, fmt.Errorf("%s: nothing is promoted there; build or promote it first", subject)
	case st.Revoked != nil: // the verdict's reason first: revoked, itself or through a base
		return DatasourceOutput{}, fmt.Errorf("%s: %s is %s; roll it back or promote a fix before building on it",
			subject, st.Digest, st.Revoked.Describe())
	case !st.Verified:
		return DatasourceOutput{}, fmt.Errorf("%s: %s does not verify with the configured keys; run bakery verify %s", subject, st.Digest, st.Reference)
	case !st.Receipt:
		return DatasourceOutput{}, fmt.Errorf("%s: %s has no verified receipt for %s; promote it with bakery promote", subject, st.Digest, c.Environment)
	}
	out := DatasourceOutput{Digest: st.Digest, Reference: st.Reference, Kind: st.Kind, AMIs: st.AMIs,
		Signer: st.Signer, Time: st.Time}
	if out.AMIs == nil {
		out.AMIs = map[string]string{}
	}
	if c.Region != "" {
		id, ok := st.AMIs[c.Region]
		if !ok {
			return DatasourceOutput{}, fmt.Errorf("%s: %s has no AMI in region %s (it has %v)", subject, st.Digest, c.Region, st.AMIs)
		}
		out.AMIID = id
	}
	return out, nil
}
