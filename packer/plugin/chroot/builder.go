//go:generate packer-sdc mapstructure-to-hcl2 -type Config

// Package chroot is the bakery-chroot builder: it bakes a machine image from a
// root filesystem tarball on the machine running Packer, with no cloud and no
// hypervisor. It unpacks the rootfs, mounts /proc, /sys and /dev into it, runs
// the template's provisioners inside it through the Packer SDK's chroot
// communicator (as amazon-chroot does), unmounts, and packs the result as the
// artifact: a real machine-image filesystem whose dpkg database the bakery-sbom
// provisioner reads.
//
// With ami_name set it also registers the packed image with EC2
// (RegisterImage) at the endpoint the AWS SDK is configured for, and the
// artifact id becomes "region:ami-id" like every amazon builder's, so the
// bakery post-processor and `bakery promote` treat it as an AMI. This is for
// a local EC2 endpoint; against AWS itself use amazon-ebs or amazon-chroot,
// which upload the disk.
package chroot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/bakeryhq/bakery/machineimage"
)

// BuilderID is the id of bakery-chroot's artifacts.
const BuilderID = "bakery.chroot"

// ArtifactName is the packed rootfs in the output directory.
const ArtifactName = "rootfs.tar.gz"

// Config is the builder's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// SourceRootfs is a tarball (.tar or .tar.gz) of the root filesystem to start from.
	SourceRootfs string `mapstructure:"source_rootfs" required:"true"`
	// OutputDirectory receives rootfs.tar.gz; default output-<build name>.
	OutputDirectory string `mapstructure:"output_directory"`
	// ChrootMounts are [type, device, path] mounts made inside the chroot.
	ChrootMounts [][]string `mapstructure:"chroot_mounts"`
	// CopyFiles are host files copied into the chroot for the provisioners.
	CopyFiles []string `mapstructure:"copy_files"`
	// AMIName, when set, registers the image with EC2 under this name.
	AMIName string `mapstructure:"ami_name"`
	// AMIRegion is the region to register in; default the SDK's region.
	AMIRegion string `mapstructure:"ami_region"`

	ctx interpolate.Context
}

// Builder is bakery-chroot.
type Builder struct {
	config Config
	runner multistep.Runner
}

// ConfigSpec returns the HCL2 spec of Config.
func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes and checks the configuration.
func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	if err := config.Decode(&b.config, &config.DecodeOpts{
		PluginType: "bakery-chroot", Interpolate: true, InterpolateContext: &b.config.ctx,
	}, raws...); err != nil {
		return nil, nil, err
	}
	var errs *packersdk.MultiError
	if b.config.SourceRootfs == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("source_rootfs is required: a .tar or .tar.gz of a root filesystem"))
	} else if _, err := os.Stat(b.config.SourceRootfs); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("source_rootfs: %w", err))
	}
	if b.config.OutputDirectory == "" {
		b.config.OutputDirectory = "output-" + b.config.PackerBuildName
	}
	if b.config.ChrootMounts == nil {
		b.config.ChrootMounts = [][]string{
			{"proc", "proc", "/proc"},
			{"sysfs", "sysfs", "/sys"},
			{"bind", "/dev", "/dev"},
			{"devpts", "devpts", "/dev/pts"},
		}
	}
	for i, m := range b.config.ChrootMounts {
		if len(m) != 3 {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("chroot_mounts[%d]: want [type, device, path], got %d items", i, len(m)))
		}
	}
	if b.config.CopyFiles == nil {
		b.config.CopyFiles = []string{"/etc/resolv.conf"}
	}
	if errs != nil && len(errs.Errors) > 0 {
		return nil, nil, errs
	}
	return []string{"SourceRootfs", "SourceRootfsDigest", "Platform"}, nil, nil
}

// Run bakes the image.
func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("bakery-chroot runs on Linux only")
	}
	state := new(multistep.BasicStateBag)
	state.Put("config", &b.config)
	state.Put("hook", hook)
	state.Put("ui", ui)
	state.Put("wrappedCommand", common.CommandWrapper(func(s string) (string, error) { return s, nil }))

	steps := []multistep.Step{
		&stepUnpack{config: &b.config},
		&sdkchroot.StepMountExtra{ChrootMounts: b.config.ChrootMounts},
		&sdkchroot.StepCopyFiles{Files: b.config.CopyFiles},
		&sdkchroot.StepChrootProvision{},
		&stepUnmount{},
		&stepPack{config: &b.config},
	}
	if b.config.AMIName != "" {
		steps = append(steps, &stepRegister{config: &b.config})
	}
	b.runner = commonsteps.NewRunner(steps, b.config.PackerConfig, ui)
	b.runner.Run(ctx, state)
	if err, ok := state.GetOk("error"); ok {
		return nil, err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return nil, errors.New("build was cancelled")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return nil, errors.New("build was halted")
	}
	a := &Artifact{
		File:      state.Get("artifact_file").(string),
		AMIs:      map[string]string{},
		Generated: state.Get("generated_data").(map[string]interface{}),
	}
	if id, ok := state.GetOk("ami_id"); ok {
		a.AMIs[state.Get("ami_region").(string)] = id.(string)
	}
	return a, nil
}

// stepUnpack unpacks the source rootfs into the output directory.
type stepUnpack struct{ config *Config }

func (s *stepUnpack) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	c := s.config
	if _, err := os.Stat(c.OutputDirectory); err == nil {
		if !c.PackerForce {
			return halt(state, fmt.Errorf("output directory %s exists; remove it or run packer build -force", c.OutputDirectory))
		}
		if err := removeUnmounted(c.OutputDirectory); err != nil {
			return halt(state, err)
		}
	}
	root := filepath.Join(c.OutputDirectory, "rootfs")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return halt(state, err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return halt(state, err)
	}
	fd, err := machineimage.FileOf(c.SourceRootfs)
	if err != nil {
		return halt(state, fmt.Errorf("source_rootfs: %w", err))
	}
	sum := strings.TrimPrefix(fd.Digest, "sha256:")
	ui.Say(fmt.Sprintf("Unpacking %s (sha256:%s) into %s", c.SourceRootfs, sum[:12], abs))
	if out, err := exec.CommandContext(ctx, "tar", "--numeric-owner", "-xpf", c.SourceRootfs, "-C", abs).CombinedOutput(); err != nil {
		return halt(state, fmt.Errorf("unpacking %s: %w: %s", c.SourceRootfs, err, strings.TrimSpace(string(out))))
	}
	src, _ := filepath.Abs(c.SourceRootfs)
	state.Put("mount_path", abs)
	state.Put("generated_data", map[string]interface{}{
		"SourceRootfs":       src,
		"SourceRootfsDigest": "sha256:" + sum,
		"Platform":           "linux/" + runtime.GOARCH,
	})
	return multistep.ActionContinue
}

// Cleanup removes the half-baked filesystem of a failed build. It runs after
// the mount step's cleanup; if anything is still mounted inside, it leaves the
// directory alone rather than delete through a bind mount of the host's /dev.
func (s *stepUnpack) Cleanup(state multistep.StateBag) {
	if _, ok := state.GetOk("artifact_file"); ok {
		return
	}
	if err := removeUnmounted(s.config.OutputDirectory); err != nil {
		state.Get("ui").(packersdk.Ui).Error(err.Error())
	}
}

// removeUnmounted removes dir unless something is mounted at or below it.
func removeUnmounted(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("checking for mounts under %s: %w", abs, err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[1] == abs || strings.HasPrefix(f[1], abs+"/")) {
			return fmt.Errorf("not removing %s: %s is still mounted; unmount it first", abs, f[1])
		}
	}
	return os.RemoveAll(abs)
}

// stepUnmount undoes the mounts and copied files before packing, as
// amazon-chroot's early cleanup does before snapshotting.
type stepUnmount struct{}

func (s *stepUnmount) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	for _, key := range []string{"copy_files_cleanup", "mount_extra_cleanup"} {
		if c, ok := state.Get(key).(sdkchroot.Cleanup); ok {
			if err := c.CleanupFunc(state); err != nil {
				return halt(state, fmt.Errorf("cleaning up the chroot: %w", err))
			}
		}
	}
	state.Put("unmounted", true)
	return multistep.ActionContinue
}

func (s *stepUnmount) Cleanup(multistep.StateBag) {}

// stepPack packs the provisioned rootfs into the artifact.
type stepPack struct{ config *Config }

func (s *stepPack) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	root := state.Get("mount_path").(string)
	out := filepath.Join(s.config.OutputDirectory, ArtifactName)
	ui.Say("Packing the image into " + out)
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-czf", out,
		"--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "-C", root, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		return halt(state, fmt.Errorf("packing %s: %w: %s", out, err, strings.TrimSpace(string(b))))
	}
	if err := os.RemoveAll(root); err != nil {
		return halt(state, err)
	}
	abs, _ := filepath.Abs(out)
	state.Put("artifact_file", abs)
	return multistep.ActionContinue
}

func (s *stepPack) Cleanup(multistep.StateBag) {}

// stepRegister registers the packed image with EC2.
type stepRegister struct{ config *Config }

func (s *stepRegister) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	var opts []func(*awsconfig.LoadOptions) error
	if s.config.AMIRegion != "" {
		opts = append(opts, awsconfig.WithRegion(s.config.AMIRegion))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return halt(state, fmt.Errorf("loading the AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		return halt(state, errors.New("ami_name is set but no region: set ami_region or AWS_REGION"))
	}
	arch := ec2types.ArchitectureValuesX8664
	if runtime.GOARCH == "arm64" {
		arch = ec2types.ArchitectureValuesArm64
	}
	out, err := ec2.NewFromConfig(cfg).RegisterImage(ctx, &ec2.RegisterImageInput{
		Name:               aws.String(s.config.AMIName),
		Architecture:       arch,
		RootDeviceName:     aws.String("/dev/xvda"),
		VirtualizationType: aws.String("hvm"),
		Description:        aws.String("bakery-chroot " + s.config.PackerBuildName),
	})
	if err != nil {
		return halt(state, fmt.Errorf("registering the AMI %q in %s: %w", s.config.AMIName, cfg.Region, err))
	}
	ui.Say(fmt.Sprintf("Registered %s in %s", aws.ToString(out.ImageId), cfg.Region))
	state.Put("ami_id", aws.ToString(out.ImageId))
	state.Put("ami_region", cfg.Region)
	return multistep.ActionContinue
}

func (s *stepRegister) Cleanup(multistep.StateBag) {}

func halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put("error", err)
	state.Get("ui").(packersdk.Ui).Error(err.Error())
	return multistep.ActionHalt
}
