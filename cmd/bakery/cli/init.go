package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

const initLong = `Write a commented bakery.yaml for the current directory and a signing key
pair (keys/bakery.key and keys/bakery.pub, cosign-compatible; the password
comes from BAKERY_SIGNING_PASSWORD or COSIGN_PASSWORD, or is asked for on a
terminal). The config has one container target built from ./Dockerfile and
three environments, dev, staging and prod, under --registry; every key is
explained in comments, and docs/config.md describes the rest. An existing
bakery.yaml is left alone unless --force; existing keys are kept.`

const initExample = `  bakery init --registry registry.example/team
  bakery init --registry 127.0.0.1:5000 --target web --no-keys
  bakery build && bakery promote`

// initConfig is the bakery.yaml bakery init writes.
const initConfig = `# bakery.yaml, written by bakery init. docs/config.md describes every key;
# each can also come from BAKERY_<KEY> environment variables and some from flags.
version: 1

targets:
  # A container image built by buildkitd from the Dockerfile in context.
  # Its repository in each environment is <repository>/%[1]s.
  %[1]s:
    type: container
    context: .
    # platforms: [linux/amd64, linux/arm64]   # several give an OCI index
    # args:
    #   BASE: target:golden-base             # build on another target's digest

# buildkitd: a local daemon, or a fleet of nodes (builder.nodes).
builder:
  address: unix:///run/buildkit/buildkitd.sock

# Sign with this key (or a KMS URI such as awskms:///alias/bakery);
# builds and promotions are signed, and verified with verification.keys.
signing:
  key: keys/bakery.key
verification:
  keys: [keys/bakery.pub]

# The environments, in promotion order. The first receives builds; each
# later one admits a digest only when its policies pass (policies/*.rego).
environments:
  - name: dev
    repository: %[2]s/dev
  - name: staging
    repository: %[2]s/staging
    policies: [signed, sbom, provenance, promoted_through]
  - name: prod
    repository: %[2]s/prod
    policies: [signed, sbom, provenance, promoted_through]
`

var targetNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

func newInit(ro *rootOptions) *cobra.Command {
	var registry, target string
	var force, noKeys bool
	cmd := &cobra.Command{
		Use:     "init [--registry PREFIX] [--target NAME]",
		Short:   "Write a commented bakery.yaml and a signing key pair for a new repository",
		Long:    initLong,
		Example: initExample,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ro.output == "json" {
				return usageError("init prints no JSON: it writes bakery.yaml and keys/")
			}
			return runInit(cmd, registry, target, force, noKeys)
		},
	}
	cmd.Flags().StringVar(&registry, "registry", "registry.example/team", "repository prefix of the environments (dev, staging and prod go under it)")
	cmd.Flags().StringVar(&target, "target", "", "the target's name (default: the current directory's name)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing bakery.yaml")
	cmd.Flags().BoolVar(&noKeys, "no-keys", false, "do not generate keys/bakery.key and keys/bakery.pub")
	return cmd
}

func runInit(cmd *cobra.Command, registry, target string, force, noKeys bool) error {
	dir, err := os.Getwd()
	if err != nil {
		return failure.New(failure.Internal, "init", err, "")
	}
	if target == "" {
		target = strings.Trim(targetNameChars.ReplaceAllString(strings.ToLower(filepath.Base(dir)), "-"), "-._")
	}
	if target == "" {
		return usageError("cannot name the target after %s: pass --target NAME", dir)
	}
	path := filepath.Join(dir, "bakery.yaml")
	if _, err := os.Stat(path); err == nil && !force {
		return failure.New(failure.Config, path, errors.New("already exists"), "edit it, or pass --force to overwrite it")
	}
	content := fmt.Sprintf(initConfig, target, strings.TrimSuffix(registry, "/"))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return failure.New(failure.Config, path, err, "run it in a directory you can write")
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Wrote %s (target %q; environments dev, staging, prod under %s)\n", path, target, registry)
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no Dockerfile in %s: write one, or point targets.%s.context at its directory\n", dir, target)
	}
	if noKeys {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "bakery.key")); err == nil {
		fmt.Fprintln(w, "Kept keys/bakery.key and keys/bakery.pub")
		return nil
	}
	pw, err := keyPassword()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return failure.New(failure.Config, "keys/", err, "")
	}
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "keys", "bakery"), pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Wrote %s and %s: keep the .key out of git (a KMS URI in signing.key is better in CI)\n", priv, pub)
	return nil
}
