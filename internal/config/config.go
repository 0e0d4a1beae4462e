// Package config loads and validates bakery.yaml.
//
// The file is decoded strictly (unknown keys and wrong types are errors that
// name the file, line and key), then every setting may be overridden through
// viper by a BAKERY_* environment variable or a bound flag, then the result
// validates itself. See docs/config.md for the schema.
package config

import (
	"path/filepath"
	"strings"
	"time"
)

// DefaultFile is the config file looked up in the working directory.
const DefaultFile = "bakery.yaml"

// Target types.
const (
	TypeContainer = "container"
	TypePacker    = "packer"
)

// Config is the whole of bakery.yaml, schema version 1.
type Config struct {
	Version      int                `yaml:"version"`
	Builder      Builder            `yaml:"builder"`
	Targets      map[string]*Target `yaml:"targets"`
	Environments []Environment      `yaml:"environments"`
	Signing      Signing            `yaml:"signing"`
	Verification Verification       `yaml:"verification"`
	Policy       Policy             `yaml:"policy"`
	Registry     Registry           `yaml:"registry"`
	SBOM         SBOM               `yaml:"sbom"`

	// File is the path the config was read from; Dir is its directory, which
	// relative paths in the file are resolved against.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// Registry bounds what bakery asks of, and waits for from, registries.
// Durations are Go durations ("30s", "10m").
type Registry struct {
	// Attempts is how many times one request is sent on an outage answer
	// (connection error, timeout, 408, 429, 5xx); default 5.
	Attempts int `yaml:"attempts"`
	// RequestTimeout bounds the wait for one response; default 30s.
	RequestTimeout string `yaml:"request_timeout"`
	// MaxRetryWait bounds the waits of one request, Retry-After included;
	// default 30s.
	MaxRetryWait string `yaml:"max_retry_wait"`
	// Timeout bounds a whole promote, rollback, verify, history or status
	// command; default 10m.
	Timeout string `yaml:"timeout"`
}

// Durations returns the parsed request timeout, retry wait and command
// timeout (validated on load).
func (r Registry) Durations() (request, retryWait, command time.Duration) {
	request, _ = time.ParseDuration(r.RequestTimeout)
	retryWait, _ = time.ParseDuration(r.MaxRetryWait)
	command, _ = time.ParseDuration(r.Timeout)
	return request, retryWait, command
}

// Builder says how to reach buildkitd and how much to build at once.
type Builder struct {
	// Address is buildkitd's address: unix:///path or tcp://host:port.
	Address string `yaml:"address"`
	TLS     TLS    `yaml:"tls"`
	// MaxParallel bounds how many targets build at once.
	MaxParallel int `yaml:"max_parallel"`
	// Packer says where packer and bakery's Packer plugin are, for type:
	// packer targets.
	Packer Packer `yaml:"packer"`
}

// Packer locates the tools that bake machine images.
type Packer struct {
	// Binary is the packer executable; default "packer" on PATH.
	Binary string `yaml:"binary"`
	// Plugin is the packer-plugin-bakery executable; default the one next to
	// the bakery executable, then the one on PATH.
	Plugin string `yaml:"plugin"`
	// PluginDir is PACKER_PLUGIN_PATH, where bakery installs the plugin;
	// default <user cache dir>/bakery/packer-plugins.
	PluginDir string `yaml:"plugin_dir"`
}

// TLS holds the mTLS files for a tcp:// buildkitd.
type TLS struct {
	CACert     string `yaml:"ca_cert"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// Target is one thing bakery builds: a container image or (type: packer) a machine image.
type Target struct {
	Name string `yaml:"-"`
	Type string `yaml:"type"`

	// type: container
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
	Labels     map[string]string `yaml:"labels"`
	Platforms  []string          `yaml:"platforms"`
	Secrets    []Secret          `yaml:"secrets"`
	CacheFrom  []string          `yaml:"cache_from"`
	CacheTo    []string          `yaml:"cache_to"`

	// type: packer
	Template  string            `yaml:"template"`
	Variables map[string]string `yaml:"variables"`
	Only      []string          `yaml:"only"`
	Except    []string          `yaml:"except"`
}

// Secret is a build secret exposed to RUN --mount=type=secret,id=ID, read
// from an environment variable or a file at build time. Its value never
// enters the config, logs or build metadata.
type Secret struct {
	ID   string `yaml:"id"`
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Environment is one stage images move through. The first environment
// receives builds.
type Environment struct {
	Name string `yaml:"name"`
	// Repository is a repository prefix; target T lives at Repository/T.
	Repository string `yaml:"repository"`
	// Tag is a text/template for the environment's tag, given .Target and .Env.
	Tag string `yaml:"tag"`
	// Insecure allows plain HTTP to the registry (for loopback registries).
	Insecure bool `yaml:"insecure"`
	// Policies names the policies (package bakery.<name>) a digest must pass
	// to be promoted into this environment.
	Policies []string `yaml:"policies"`
	// AcceptDirect lets a digest be promoted here without a receipt for the
	// previous environment.
	AcceptDirect bool `yaml:"accept_direct"`
	// AWS, when set, gives a promoted machine image this environment's own
	// AMIs: copied into Regions, shared with Accounts, tagged.
	AWS *AWS `yaml:"aws"`
	// MaxAgeDays is what the max_age policy allows: a digest built more
	// than this many days ago is denied (0: no limit).
	MaxAgeDays int `yaml:"max_age_days"`
}

// AWS is the cloud side of an environment for machine images. Credentials and
// endpoints come from the AWS SDK's usual sources (AWS_* variables, shared
// config, AWS_ENDPOINT_URL_EC2).
type AWS struct {
	// Regions are the regions the environment runs AMIs in; default the
	// regions the image was built in.
	Regions []string `yaml:"regions"`
	// Accounts are AWS account ids given launch permission.
	Accounts []string `yaml:"accounts"`
	// Profile is a shared-config profile; default the SDK's.
	Profile string `yaml:"profile"`
	// Tags are added to every AMI promoted into the environment.
	Tags map[string]string `yaml:"tags"`
}

// Policy is the data the promotion policies read, and where more live.
type Policy struct {
	// Dirs are directories of .rego files added to the shipped policies.
	Dirs []string `yaml:"dirs"`
	// AllowedBuilders are the SLSA builder ids the provenance policy accepts.
	AllowedBuilders []string `yaml:"allowed_builders"`
	// LicenseDenylist holds SPDX license ids the license policy denies.
	LicenseDenylist []string `yaml:"license_denylist"`
	// PackageDenylist holds package names the package policy denies.
	PackageDenylist []string `yaml:"package_denylist"`
	// LicenseAllowlist and PackageAllowlist are what the sbom_delta policy
	// lets a promotion bring that the environment does not run yet (each
	// check is off while its list is empty).
	LicenseAllowlist []string `yaml:"license_allowlist"`
	PackageAllowlist []string `yaml:"package_allowlist"`
}

// Signing says how bakery signs images and their attestations.
type Signing struct {
	// Key is a cosign private key file (encrypted; its password comes from
	// BAKERY_SIGNING_PASSWORD or COSIGN_PASSWORD) or a KMS URI: awskms://,
	// gcpkms://, hashivault://, azurekms://.
	Key string `yaml:"key"`
	// Keyless signs with a short-lived Fulcio certificate and records the
	// signature in Rekor. It needs those services and an OIDC identity, so it
	// cannot run offline; it is off unless configured.
	Keyless *Keyless `yaml:"keyless"`
	// BuilderID is the SLSA builder.id written into provenance.
	BuilderID string `yaml:"builder_id"`
}

// SBOM names who the SBOMs bakery writes come from.
type SBOM struct {
	// Organization is written as the SPDX creator "Organization: ..." beside
	// "Tool: bakery-VERSION", and as the CycloneDX metadata.manufacturer.
	Organization string `yaml:"organization"`
	// Namespace is the absolute URI (with a scheme, without '#') under which
	// each SPDX document gets its unique namespace; default
	// https://spdx.org/spdxdocs, as the SPDX project's own tools use.
	Namespace string `yaml:"namespace"`
}

// Keyless configures Fulcio/Rekor signing.
type Keyless struct {
	FulcioURL         string `yaml:"fulcio_url"`
	RekorURL          string `yaml:"rekor_url"`
	OIDCIssuer        string `yaml:"oidc_issuer"`
	OIDCClientID      string `yaml:"oidc_client_id"`
	IdentityTokenFile string `yaml:"identity_token_file"`
}

// Verification says which signers bakery trusts.
type Verification struct {
	// Keys are cosign public key files or KMS URIs. A signature or attestation
	// counts only if one of them verifies it.
	Keys []string `yaml:"keys"`
}

// DefaultBuilderID is the SLSA builder.id when signing.builder_id is unset.
const DefaultBuilderID = "https://github.com/bakeryhq/bakery"

// DefaultMaxParallel is used when builder.max_parallel is not set.
const DefaultMaxParallel = 2

// DefaultBuilderAddress is BuildKit's own default socket.
const DefaultBuilderAddress = "unix:///run/buildkit/buildkitd.sock"

// DefaultTagTemplate names an environment's tag after the environment.
const DefaultTagTemplate = "{{ .Env }}"

func (c *Config) applyDefaults() {
	if c.Builder.Address == "" {
		c.Builder.Address = DefaultBuilderAddress
	}
	// Key files are relative to the config file; KMS URIs are left alone.
	c.Signing.Key = c.path(c.Signing.Key)
	for i, k := range c.Verification.Keys {
		c.Verification.Keys[i] = c.path(k)
	}
	for i, d := range c.Policy.Dirs {
		c.Policy.Dirs[i] = c.path(d)
	}
	// Tool paths with a directory are relative to the config file; bare
	// names are looked up on PATH.
	for _, p := range []*string{&c.Builder.Packer.Binary, &c.Builder.Packer.Plugin} {
		if strings.ContainsRune(*p, filepath.Separator) {
			*p = c.path(*p)
		}
	}
	c.Builder.Packer.PluginDir = c.path(c.Builder.Packer.PluginDir)
	if c.Signing.BuilderID == "" {
		c.Signing.BuilderID = DefaultBuilderID
	}
	if c.Registry.Attempts == 0 {
		c.Registry.Attempts = 5
	}
	for _, d := range []struct {
		v   *string
		def string
	}{{&c.Registry.RequestTimeout, "30s"}, {&c.Registry.MaxRetryWait, "30s"}, {&c.Registry.Timeout, "10m"}} {
		if *d.v == "" {
			*d.v = d.def
		}
	}
	if c.Builder.MaxParallel == 0 {
		c.Builder.MaxParallel = DefaultMaxParallel
	}
	for i := range c.Environments {
		if c.Environments[i].Tag == "" {
			c.Environments[i].Tag = DefaultTagTemplate
		}
	}
	for _, t := range c.Targets {
		if t.Type == TypeContainer {
			if t.Context == "" {
				t.Context = "."
			}
			if t.Dockerfile == "" {
				t.Dockerfile = "Dockerfile"
			}
		}
	}
}

// path resolves a file path of the config against the config's directory.
func (c *Config) path(p string) string {
	if p == "" || strings.Contains(p, "://") || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Environment returns the environment with the given name and its index in
// the promotion order.
func (c *Config) Environment(name string) (*Environment, int, bool) {
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			return &c.Environments[i], i, true
		}
	}
	return nil, -1, false
}
