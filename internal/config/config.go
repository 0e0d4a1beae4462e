// Package config loads and validates bakery.yaml.
//
// The file is decoded strictly (unknown keys and wrong types are errors that
// name the file, line and key), then every setting may be overridden through
// viper by a BAKERY_* environment variable or a bound flag, then the result
// validates itself. See docs/config.md for the schema.
package config

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/internal/registry"
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
	// Vulnerabilities says where the vulnerability database is and which
	// VEX documents and waivers suppress findings.
	Vulnerabilities Vulnerabilities `yaml:"vulnerabilities"`
	// Retention says what bakery gc keeps; an environment may override it.
	Retention Retention `yaml:"retention"`

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

// Settings are r's bounds as the registry package takes them: commands carry
// them in their context (registry.WithSettings).
func (r Registry) Settings() registry.Settings {
	request, retryWait, _ := r.Durations()
	s := registry.DefaultSettings
	s.Attempts, s.RequestTimeout, s.MaxRetryWait = r.Attempts, request, retryWait
	return s
}

// Context returns ctx carrying the config's registry settings: every registry
// call made from it retries, waits and times out as the config says.
func (c *Config) Context(ctx context.Context) context.Context {
	return registry.WithSettings(ctx, c.Registry.Settings())
}

// Builder says how to reach buildkitd and how much to build at once.
type Builder struct {
	// Address is buildkitd's address: unix:///path or tcp://host:port. It
	// is a fleet of one node; set it or Nodes, not both.
	Address string `yaml:"address"`
	TLS     TLS    `yaml:"tls"`
	// Nodes are the buildkitd nodes of a fleet. After defaults, Nodes always
	// holds the fleet: the one node of Address when none was listed.
	Nodes []Node `yaml:"nodes"`
	// Emulation lets a platform that no node builds natively go to a node
	// that builds it under emulation (QEMU through binfmt_misc); default
	// true. False refuses such a target before anything is built.
	Emulation *bool `yaml:"emulation"`
	// MaxParallel bounds how many targets build at once; default the sum
	// of the nodes' max_parallel.
	MaxParallel int `yaml:"max_parallel"`
	// listed says the config listed nodes (rather than builder.address);
	// fileAddress is builder.address as the file has it, before
	// BAKERY_BUILDER_ADDRESS or --builder.
	listed      bool
	fileAddress string
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

// Node is one buildkitd of a fleet.
type Node struct {
	// Name names the node in output and errors; default node-N (1-based),
	// or "default" for the node of builder.address.
	Name string `yaml:"name"`
	// Address is unix:///path or tcp://host:port.
	Address string `yaml:"address"`
	TLS     TLS    `yaml:"tls"`
	// Platforms are the platforms the node builds natively (os/arch[/variant]);
	// default every platform its workers report.
	Platforms []string `yaml:"platforms"`
	// MaxParallel bounds the builds the node runs at once; default
	// DefaultMaxParallel.
	MaxParallel int `yaml:"max_parallel"`
}

// Fleet is the nodes of the fleet: Nodes, or the one node of Address for a
// Builder that did not go through Load.
func (b Builder) Fleet() []Node {
	if len(b.Nodes) > 0 {
		return b.Nodes
	}
	max := b.MaxParallel
	if max == 0 {
		max = DefaultMaxParallel
	}
	return []Node{{Name: "default", Address: b.Address, TLS: b.TLS, MaxParallel: max}}
}

// EmulationAllowed says whether a platform with no native node may be built
// under emulation.
func (b Builder) EmulationAllowed() bool { return b.Emulation == nil || *b.Emulation }

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

	// Tests are the target's test suites (docs/testing.md): each digest it
	// builds is tested before the first environment's tag moves, and the
	// tested and tested_in policies require their results.
	Tests []Test `yaml:"tests"`
}

// Test is one test suite of a target.
type Test struct {
	// Name names the suite in results, in policies and on the command line.
	Name string `yaml:"name"`
	// File is a container-structure-test suite (schemaVersion 2.0.0) that
	// bakery runs, relative to the config file.
	File string `yaml:"file"`
	// External marks a suite that runs elsewhere (CI's smoke or integration
	// tests): its results come from `bakery test --junit`, and bakery never
	// runs it.
	External bool `yaml:"external"`
}

// RunnableTests are the suites bakery runs itself (those with a file).
func (t *Target) RunnableTests() []Test {
	var out []Test
	for _, s := range t.Tests {
		if !s.External {
			out = append(out, s)
		}
	}
	return out
}

// Suite is the target's suite called name, if it has one.
func (t *Target) Suite(name string) (Test, bool) {
	for _, s := range t.Tests {
		if s.Name == name {
			return s, true
		}
	}
	return Test{}, false
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
	// TestedIn is what the tested_in policy requires before a digest enters
	// this environment: its suites PASSED against the digest in an earlier
	// environment, at least Soak ago.
	TestedIn *TestedIn `yaml:"tested_in"`
	// Vulnerabilities is what the vulnerabilities policy denies here.
	Vulnerabilities *VulnPolicy `yaml:"vulnerabilities"`
	// Deploy lists the deployment files that `bakery promote|rollback
	// --write` pins to what this environment runs (package deploy/gitops).
	Deploy *Deploy `yaml:"deploy"`
	// Retention overrides the top-level retention settings here.
	Retention *Retention `yaml:"retention"`
}

// Retention is what bakery gc keeps of a target in an environment besides
// what the environment runs, what a later environment keeps, the bases of
// kept digests and every revoked digest (docs/retention.md).
type Retention struct {
	// RollbackWindow is how many of the newest digests that hold a receipt
	// in the environment are kept (what rollback can go back to); default
	// DefaultRollbackWindow.
	RollbackWindow *int `yaml:"rollback_window"`
	// MinAge keeps every digest built or receipted more recently, a Go
	// duration; default DefaultMinAge, "0" for none.
	MinAge string `yaml:"min_age"`
}

// Defaults of Retention.
const (
	DefaultRollbackWindow = 5
	DefaultMinAge         = 24 * time.Hour
)

// RetentionOf is what gc keeps in env: the rollback window and the minimum
// age, the environment's own settings over the top-level ones over the
// defaults (validated on load).
func (c *Config) RetentionOf(env *Environment) (window int, minAge time.Duration) {
	window, minAge = DefaultRollbackWindow, DefaultMinAge
	for _, r := range []*Retention{&c.Retention, env.Retention} {
		if r == nil {
			continue
		}
		if r.RollbackWindow != nil {
			window = *r.RollbackWindow
		}
		if r.MinAge != "" {
			minAge, _ = time.ParseDuration(r.MinAge)
		}
	}
	return window, minAge
}

// Deploy is an environment's GitOps write-back: which image in which file
// belongs to which target. It is declared, never guessed.
type Deploy struct {
	Files []DeployFile `yaml:"files"`
}

// Formats of a DeployFile.
const (
	FormatKustomize = "kustomize"
	FormatHelm      = "helm"
	FormatManifest  = "manifest"
	FormatECS       = "ecs"
	FormatTerraform = "terraform"
)

// DeployFormats lists the formats a DeployFile may have.
var DeployFormats = []string{FormatKustomize, FormatHelm, FormatManifest, FormatECS, FormatTerraform}

// DeployFile is one image reference in one deployment file.
type DeployFile struct {
	// Path is the file, relative to the config file's directory.
	Path string `yaml:"path"`
	// Format is kustomize, helm, manifest, ecs or terraform.
	Format string `yaml:"format"`
	// Target is the target whose digest the file pins.
	Target string `yaml:"target"`
	// Image says which image of the file: a kustomization's images[].name,
	// a manifest's container name, an ECS task definition's
	// containerDefinitions[].name, the dotted key of a Helm values image
	// block (default "image"), a Terraform attribute or variable name.
	Image string `yaml:"image"`
}

// DeployPath is f's path resolved against the config file's directory.
func (c *Config) DeployPath(f DeployFile) string { return c.path(f.Path) }

// DeployFiles returns env's deploy files for target, each with its index
// in env's deploy.files.
func (e *Environment) DeployFiles(target string) (files []DeployFile, index []int) {
	if e.Deploy == nil {
		return nil, nil
	}
	for i, f := range e.Deploy.Files {
		if f.Target == target {
			files, index = append(files, f), append(index, i)
		}
	}
	return files, index
}

// Vulnerabilities configures scanning: the grype database bakery reads
// (never downloads), how old it may be for a decision, and what suppresses
// a finding.
type Vulnerabilities struct {
	// DB is grype's database (schema v6): its vulnerability.db file, or
	// the directory holding it, as the stock `grype db update` or
	// `grype db import` leaves it.
	DB string `yaml:"db"`
	// MaxDBAge is how old (by its build time) the database may be when a
	// decision rests on it, a Go duration; default 120h, "0" for no limit.
	MaxDBAge string `yaml:"max_db_age"`
	// VEX lists OpenVEX documents, each signed by a trusted key with
	// `cosign sign-blob` (the signature in FILE.sig), that suppress the
	// findings they mark not_affected or fixed.
	VEX []string `yaml:"vex"`
	// Waivers suppress a finding of one target until a date.
	Waivers []Waiver `yaml:"waivers"`
}

// DefaultMaxDBAge is the database age allowed for decisions when
// vulnerabilities.max_db_age is unset.
const DefaultMaxDBAge = 120 * time.Hour

// MaxDBAgeDuration is the database age allowed for decisions; 0 is no limit.
func (v Vulnerabilities) MaxDBAgeDuration() time.Duration {
	if v.MaxDBAge == "" {
		return DefaultMaxDBAge
	}
	d, _ := time.ParseDuration(v.MaxDBAge)
	return d
}

// Waiver accepts one known vulnerability in one target until a date.
type Waiver struct {
	// ID is the vulnerability id (CVE-…, GHSA-…, DSA-…).
	ID string `yaml:"id"`
	// Target is the target it applies to; "*" for every target.
	Target string `yaml:"target"`
	// Until is the last day (YYYY-MM-DD, UTC) the waiver holds.
	Until string `yaml:"until"`
	// Reason says why the finding is accepted.
	Reason string `yaml:"reason"`
	// ApprovedBy names who accepted it.
	ApprovedBy string `yaml:"approved_by"`
}

// Expires is the first instant the waiver no longer holds: the day after
// Until, at midnight UTC.
func (w Waiver) Expires() time.Time {
	d, _ := time.Parse(time.DateOnly, w.Until)
	return d.AddDate(0, 0, 1)
}

// VulnPolicy is an environment's vulnerabilities policy.
type VulnPolicy struct {
	// DenySeverity denies a finding at or above it: negligible, low,
	// medium, high or critical; "" denies none by severity.
	DenySeverity string `yaml:"deny_severity"`
	// OnlyFixed limits DenySeverity to findings a fixed version exists for.
	OnlyFixed bool `yaml:"only_fixed"`
	// DenyIDs are vulnerability ids denied outright, fix or not.
	DenyIDs []string `yaml:"deny_ids"`
	// MaxAge is how old the newest verified scan may be, a Go duration
	// (default 24h); promote scans again when it is older, or was made
	// with an older database than the one loaded.
	MaxAge string `yaml:"max_age"`
}

// DefaultScanMaxAge is a scan's allowed age when max_age is unset.
const DefaultScanMaxAge = 24 * time.Hour

// MaxAgeDuration is the scan age the policy allows.
func (v VulnPolicy) MaxAgeDuration() time.Duration {
	if v.MaxAge == "" {
		return DefaultScanMaxAge
	}
	d, _ := time.ParseDuration(v.MaxAge)
	return d
}

// Severities are the severities a policy may name, lowest first.
var Severities = []string{"negligible", "low", "medium", "high", "critical"}

// TestedIn names the evidence an environment requires from an earlier one.
type TestedIn struct {
	// Environment is the earlier environment the tests ran against.
	Environment string `yaml:"environment"`
	// Suites are the suite names whose newest result there must be PASSED.
	Suites []string `yaml:"suites"`
	// Soak is a Go duration ("1h"): how long ago that result must have
	// finished, so the digest ran there that long; empty is no soak.
	Soak string `yaml:"soak"`
}

// SoakDuration is Soak parsed (0 when empty; validation rejects bad ones).
func (t TestedIn) SoakDuration() time.Duration {
	d, _ := time.ParseDuration(t.Soak)
	return d
}

// AWS is the cloud side of an environment for machine images. Credentials and
// endpoints come from the AWS SDK's usual sources (AWS_* variables, shared
// config, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_AUTO_SCALING).
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
	// Rollout replaces instances once a machine image is promoted (or
	// rolled back) into the environment: a new launch template version
	// with the environment's AMI, then an instance refresh of the groups.
	Rollout []Rollout `yaml:"rollout"`
}

// Rollout is one launch template, in one region, that runs a machine-image
// target in an environment, and the Auto Scaling groups launched from it.
type Rollout struct {
	// Target is the machine-image (packer) target the template runs.
	Target string `yaml:"target"`
	// Region is the template's region: one of the environment's regions.
	Region string `yaml:"region"`
	// LaunchTemplate is the template's name, or its id (lt-…).
	LaunchTemplate string `yaml:"launch_template"`
	// SetDefault makes the new version the template's default.
	SetDefault bool `yaml:"set_default"`
	// AutoScalingGroups are refreshed onto the new version.
	AutoScalingGroups []string `yaml:"auto_scaling_groups"`
	// MinHealthyPercentage is the share of each group kept in service
	// during the refresh; default DefaultMinHealthyPercentage.
	MinHealthyPercentage *int `yaml:"min_healthy_percentage"`
	// AutoRollback rolls a failed refresh back; default true.
	AutoRollback *bool `yaml:"auto_rollback"`
}

// DefaultMinHealthyPercentage is rollout.min_healthy_percentage's default.
const DefaultMinHealthyPercentage = 90

// MinHealthy is MinHealthyPercentage, or its default.
func (r Rollout) MinHealthy() int {
	if r.MinHealthyPercentage == nil {
		return DefaultMinHealthyPercentage
	}
	return *r.MinHealthyPercentage
}

// Rollback is AutoRollback, or its default (true).
func (r Rollout) Rollback() bool {
	return r.AutoRollback == nil || *r.AutoRollback
}

// RolloutsOf returns the rollout entries of target, in the order written.
func (a *AWS) RolloutsOf(target string) []Rollout {
	if a == nil {
		return nil
	}
	var out []Rollout
	for _, r := range a.Rollout {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
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
	// CacheDir is the SBOM layer cache (docs/sbom-cache.md): an absolute
	// directory, "off" to catalog every layer of every image, or empty for
	// $XDG_CACHE_HOME/bakery/sbom-layers.
	CacheDir string `yaml:"cache_dir"`
	// CacheMaxMiB bounds the SBOM layer cache; 0 means 512.
	CacheMaxMiB int `yaml:"cache_max_mib"`
}

// SBOMCacheOff is the sbom.cache_dir that turns the SBOM layer cache off.
const SBOMCacheOff = "off"

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

// defaultNodes makes builder.address the one node of a fleet when no nodes
// are listed, and fills in each node's name and bound; TLS files are
// relative to the config file.
func (c *Config) defaultNodes() {
	b := &c.Builder
	b.listed = len(b.Nodes) > 0
	if b.listed && b.Address != "" && b.Address != b.fileAddress {
		// --builder or BAKERY_BUILDER_ADDRESS names one buildkitd for this
		// run: it replaces the file's fleet, as buildx --builder does.
		b.Nodes, b.listed = nil, false
	}
	if !b.listed {
		if b.Address == "" {
			b.Address = DefaultBuilderAddress
		}
		b.Nodes = b.Fleet()
	}
	for i := range b.Nodes {
		n := &b.Nodes[i]
		if n.Name == "" {
			n.Name = fmt.Sprintf("node-%d", i+1)
		}
		if n.MaxParallel == 0 {
			n.MaxParallel = DefaultMaxParallel
		}
		for _, f := range []*string{&n.TLS.CACert, &n.TLS.Cert, &n.TLS.Key} {
			*f = c.path(*f)
		}
	}
}

func (c *Config) applyDefaults() {
	c.defaultNodes()
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
		for _, n := range c.Builder.Nodes {
			c.Builder.MaxParallel += n.MaxParallel
		}
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

// Path resolves a file path the config names (a suite's file) against the
// config's directory.
func (c *Config) Path(p string) string { return c.path(p) }

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
