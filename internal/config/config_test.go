package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
)

const valid = `version: 1
builder:
  address: unix:///run/buildkit/buildkitd.sock
  max_parallel: 3
targets:
  web:
    type: container
    context: app
    args:
      VERSION: "1.2"
    labels:
      org.opencontainers.image.title: web
    platforms: [linux/amd64, linux/arm64]
    secrets:
      - id: token
        env: TOKEN
    cache_from: ["type=registry,ref=127.0.0.1:5000/cache/web"]
  ami:
    type: packer
    template: ami.pkr.hcl
environments:
  - name: dev
    repository: 127.0.0.1:5000/dev
    insecure: true
  - name: prod
    repository: registry.example/prod
    tag: "{{ .Target }}-{{ .Env }}"
    aws:
      regions: [us-east-1, eu-west-1]
      accounts: ["111122223333"]
`

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bakery.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadValid(t *testing.T) {
	cfg, err := Load(Options{File: write(t, valid)})
	if err != nil {
		t.Fatal(err)
	}
	web := cfg.Targets["web"]
	if web.Name != "web" || web.Dockerfile != "Dockerfile" || web.Args["VERSION"] != "1.2" {
		t.Errorf("web = %+v", web)
	}
	if got := web.Labels["org.opencontainers.image.title"]; got != "web" {
		t.Errorf("dotted label key lost: %v", web.Labels)
	}
	if cfg.Builder.MaxParallel != 3 || len(web.Platforms) != 2 {
		t.Errorf("builder = %+v platforms = %v", cfg.Builder, web.Platforms)
	}
	if cfg.Environments[0].Tag != DefaultTagTemplate {
		t.Errorf("default tag = %q", cfg.Environments[0].Tag)
	}
	tag, err := cfg.Environments[1].RenderTag("web")
	if err != nil || tag != "web-prod" {
		t.Errorf("RenderTag = %q, %v", tag, err)
	}
	repo, err := cfg.Environments[0].RepositoryFor("web")
	if err != nil || repo.String() != "127.0.0.1:5000/dev/web" || repo.Scheme() != "http" {
		t.Errorf("RepositoryFor = %v (%s), %v", repo, repo.Scheme(), err)
	}
}

// nodesYAML is a fleet of two nodes, the second one named.
const nodesYAML = `  nodes:
    - address: tcp://10.0.0.1:1234
      platforms: [linux/amd64]
    - name: arm
      address: tcp://10.0.0.2:1234
      platforms: [linux/arm64]
`

// withNodes is valid with builder.address replaced by nodes.
func withNodes(nodes string) string {
	return strings.Replace(valid, "  address: unix:///run/buildkit/buildkitd.sock\n", nodes, 1)
}

// TestLoadErrors checks that each bad input names the file, the line and the
// key, and is of class Config (exit code 2).
// TestTestsAndTestedIn: a target's suites and an environment's tested_in
// load as written, the suite file resolved against the config's directory.
func TestTestsAndTestedIn(t *testing.T) {
	p := write(t, strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: base, file: base.yaml}\n      - {name: smoke, external: true}\n  ami:\n", 1)+
		"    tested_in: {environment: dev, suites: [smoke], soak: 90m}\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "base.yaml"), []byte("schemaVersion: 2.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{File: p})
	if err != nil {
		t.Fatal(err)
	}
	web := cfg.Targets["web"]
	if got := web.RunnableTests(); len(got) != 1 || got[0].Name != "base" {
		t.Errorf("runnable tests %+v, want base only", got)
	}
	if s, ok := web.Suite("smoke"); !ok || !s.External {
		t.Errorf("suite smoke: %+v %v", s, ok)
	}
	if got := cfg.Path(web.Tests[0].File); got != filepath.Join(filepath.Dir(p), "base.yaml") {
		t.Errorf("suite file resolves to %s", got)
	}
	ti := cfg.Environments[1].TestedIn
	if ti == nil || ti.Environment != "dev" || ti.SoakDuration() != 90*time.Minute {
		t.Errorf("tested_in %+v", ti)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown key", strings.Replace(valid, "    context: app", "    contxt: app", 1),
			[]string{"bakery.yaml:8:", "targets.web.contxt: unknown key", "expected one of:", "context"}},
		{"wrong type", strings.Replace(valid, "max_parallel: 3", "max_parallel: lots", 1),
			[]string{"bakery.yaml:4:", "builder.max_parallel", "cannot unmarshal text `lots` into int"}},
		{"list expected", strings.Replace(valid, "platforms: [linux/amd64, linux/arm64]", "platforms: {a: b}", 1),
			[]string{"bakery.yaml:", "targets.web.platforms", "mapping"}},
		{"missing version", strings.Replace(valid, "version: 1\n", "", 1),
			[]string{"version: required", "version: 1"}},
		{"missing type", strings.Replace(valid, "    type: packer\n", "", 1),
			[]string{"bakery.yaml:", "targets.ami.type: required"}},
		{"missing repository", strings.Replace(valid, "    repository: registry.example/prod\n", "", 1),
			[]string{"environments[1].repository: required"}},
		{"container field on packer", strings.Replace(valid, "    template: ami.pkr.hcl", "    template: ami.pkr.hcl\n    dockerfile: x", 1),
			[]string{"targets.ami.dockerfile: not valid for a packer target"}},
		{"bad platform", strings.Replace(valid, "linux/arm64]", "arm64]", 1),
			[]string{"targets.web.platforms[1]: invalid platform \"arm64\""}},
		{"secret without source", strings.Replace(valid, "        env: TOKEN\n", "", 1),
			[]string{"targets.web.secrets[0]", "one source"}},
		{"bad tag template", strings.Replace(valid, "{{ .Target }}-{{ .Env }}", "{{ .Nope }}", 1),
			[]string{"environments[1].tag", "bad template"}},
		{"bad address", strings.Replace(valid, "unix:///run/buildkit/buildkitd.sock", "http://x", 1),
			[]string{"bakery.yaml:3:", "builder.address", "unsupported scheme"}},
		{"invalid yaml", "version: 1\ntargets: [\n", []string{"bakery.yaml", "YAML"}},
		{"upper-case target", strings.Replace(valid, "  web:", "  Web:", 1),
			[]string{"invalid target name \"Web\""}},
		{"bad aws region", strings.Replace(valid, "eu-west-1]", "Europe]", 1),
			[]string{"environments[1].aws.regions[1]: invalid region \"Europe\""}},
		{"bad aws account", strings.Replace(valid, `"111122223333"`, `"1111-2222"`, 1),
			[]string{"environments[1].aws.accounts[0]: invalid account id", "12-digit"}},
		{"unknown aws key", strings.Replace(valid, "      accounts:", "      acounts:", 1),
			[]string{"environments[1].aws.acounts: unknown key", "accounts"}},
		{"relative sbom namespace", valid + "sbom:\n  namespace: sbom.example.com/golden\n",
			[]string{"sbom.namespace", "is not an absolute URI", "https://"}},
		{"sbom namespace with a fragment", valid + "sbom:\n  namespace: https://sbom.example.com/x#y\n",
			[]string{"sbom.namespace", "has a fragment"}},
		{"relative sbom cache dir", valid + "sbom:\n  cache_dir: cache\n",
			[]string{"sbom.cache_dir", "is not absolute", "off"}},
		{"negative sbom cache bound", valid + "sbom:\n  cache_max_mib: -1\n",
			[]string{"sbom.cache_max_mib", "is negative"}},
		{"nodes and address", strings.Replace(valid, "  max_parallel: 3\n", "  max_parallel: 3\n  nodes:\n    - address: tcp://10.0.0.1:1234\n", 1),
			[]string{"builder.address", "set together with builder.nodes"}},
		{"duplicate node address", withNodes(nodesYAML + "    - address: tcp://10.0.0.2:1234\n"),
			[]string{"builder.nodes[2].address", "the same address tcp://10.0.0.2:1234 as builder.nodes[1]"}},
		{"bad node platform", withNodes(strings.Replace(nodesYAML, "[linux/arm64]", "[arm64]", 1)),
			[]string{"builder.nodes[1].platforms", `"arm64" is not a platform`}},
		{"unreadable node cert", withNodes(nodesYAML + "      tls: {ca_cert: nope/ca.pem, cert: nope/cert.pem, key: nope/key.pem}\n"),
			[]string{"builder.nodes[1].tls.ca_cert", "no such file or directory", "readable PEM file"}},
		{"suite without file", strings.Replace(valid, "  ami:\n", "    tests:\n      - name: base\n  ami:\n", 1),
			[]string{"targets.web.tests[0].file: required", "external: true"}},
		{"suite file and external", strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: smoke, file: s.yaml, external: true}\n  ami:\n", 1),
			[]string{"targets.web.tests[0]", "both external and a file"}},
		{"missing suite file", strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: base, file: tests/nope.yaml}\n  ami:\n", 1),
			[]string{"targets.web.tests[0].file", "nope.yaml", "no such file"}},
		{"duplicate suite", strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: smoke, external: true}\n      - {name: smoke, external: true}\n  ami:\n", 1),
			[]string{"targets.web.tests[1].name", "duplicate suite \"smoke\""}},
		{"tested_in a later environment", valid + "    tested_in: {environment: qa, suites: [smoke], soak: 1h}\n",
			[]string{"environments[1].tested_in.environment", `"qa" is not an earlier environment`, "environments[1].tested_in.suites[0]", `no target defines suite "smoke"`}},
		{"tested_in bad soak", strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: smoke, external: true}\n  ami:\n", 1) + "    tested_in: {environment: dev, suites: [smoke], soak: a day}\n",
			[]string{"environments[1].tested_in.soak", `invalid soak "a day"`}},
		{"rollout of a container target", valid + rolloutYAML("web", "us-east-1", "golden-prod", "90"),
			[]string{"bakery.yaml:", "environments[1].aws.rollout[0].target", `target "web" is a container target`}},
		{"rollout of an unknown target", valid + rolloutYAML("nope", "us-east-1", "golden-prod", "90"),
			[]string{"environments[1].aws.rollout[0].target", `unknown target "nope"`}},
		{"rollout region not among regions", valid + rolloutYAML("ami", "ap-south-1", "golden-prod", "90"),
			[]string{"environments[1].aws.rollout[0].region", `"ap-south-1" is not one of aws.regions`}},
		{"rollout bad template id", valid + rolloutYAML("ami", "us-east-1", "lt-xyz", "90"),
			[]string{"environments[1].aws.rollout[0].launch_template", `invalid launch template id "lt-xyz"`}},
		{"rollout bad percentage", valid + rolloutYAML("ami", "us-east-1", "golden-prod", "120"),
			[]string{"environments[1].aws.rollout[0].min_healthy_percentage", "120 is out of range"}},
		{"rollout listed twice", valid + rolloutYAML("ami", "us-east-1", "golden-prod", "90") + strings.SplitN(rolloutYAML("ami", "us-east-1", "golden-prod", "90"), "\n", 2)[1],
			[]string{"environments[1].aws.rollout[1]", "the same target, region and launch template as environments[1].aws.rollout[0]"}},
		{"rollout unknown key", valid + strings.Replace(rolloutYAML("ami", "us-east-1", "golden-prod", "90"), "set_default", "make_default", 1),
			[]string{"environments[1].aws.rollout[0].make_default: unknown key", "set_default"}},
		{"node tls on unix", strings.Replace(valid, "builder:\n  address: unix:///run/buildkit/buildkitd.sock\n", "builder:\n  nodes:\n    - address: unix:///run/b.sock\n      tls: {cert: a, key: b}\n", 1),
			[]string{"builder.nodes[0].tls", "TLS applies to tcp:// addresses only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Options{File: write(t, tc.content)})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if c := failure.ClassOf(err); c != failure.Config {
				t.Errorf("class = %v, want config", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.Contains(line, "bakery.yaml") {
					t.Errorf("line %q does not name the file", line)
				}
			}
		})
	}
}

// rolloutYAML is an aws.rollout list of one entry for the last environment.
func rolloutYAML(target, region, lt, minHealthy string) string {
	return fmt.Sprintf(`      rollout:
        - target: %s
          region: %s
          launch_template: %s
          set_default: true
          auto_scaling_groups: [web-prod, api-prod]
          min_healthy_percentage: %s
`, target, region, lt, minHealthy)
}

func TestRollout(t *testing.T) {
	cfg, err := Load(Options{File: write(t, valid+rolloutYAML("ami", "eu-west-1", "lt-0123456789abcdef0", "75")+
		"        - {target: ami, region: us-east-1, launch_template: golden-prod}\n")})
	if err != nil {
		t.Fatal(err)
	}
	aws := cfg.Environments[1].AWS
	got := aws.RolloutsOf("ami")
	if len(got) != 2 || aws.RolloutsOf("web") != nil || (*AWS)(nil).RolloutsOf("ami") != nil {
		t.Fatalf("RolloutsOf = %+v", got)
	}
	if r := got[0]; r.Region != "eu-west-1" || r.LaunchTemplate != "lt-0123456789abcdef0" || !r.SetDefault ||
		len(r.AutoScalingGroups) != 2 || r.MinHealthy() != 75 || !r.Rollback() {
		t.Errorf("first entry %+v", r)
	}
	if r := got[1]; r.SetDefault || r.AutoScalingGroups != nil || r.MinHealthy() != DefaultMinHealthyPercentage || !r.Rollback() {
		t.Errorf("defaults %+v", r)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Load(Options{})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "bakery.yaml: config file not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadFindsFileInWorkingDirectoryAndEnv(t *testing.T) {
	dir := filepath.Dir(write(t, valid))
	t.Chdir(dir)
	if _, err := Load(Options{}); err != nil {
		t.Fatalf("./bakery.yaml: %v", err)
	}
	other := write(t, strings.Replace(valid, "max_parallel: 3", "max_parallel: 7", 1))
	t.Setenv(string(env.Config), other)
	cfg, err := Load(Options{})
	if err != nil || cfg.Builder.MaxParallel != 7 {
		t.Fatalf("BAKERY_CONFIG not used: %v %v", cfg, err)
	}
}

// TestOverrides checks the precedence flag > environment > file.
func TestOverrides(t *testing.T) {
	file := write(t, valid)
	t.Setenv("BAKERY_BUILDER_ADDRESS", "tcp://env:1234")
	t.Setenv("BAKERY_BUILDER_MAX_PARALLEL", "5")
	t.Setenv("BAKERY_TARGETS_WEB_CONTEXT", "elsewhere")
	t.Setenv("BAKERY_TARGETS_WEB_PLATFORMS", "linux/riscv64, linux/s390x")
	t.Setenv("BAKERY_TARGETS_WEB_ARGS_VERSION", "2.0")
	t.Setenv("BAKERY_TARGETS_WEB_CACHE_FROM", `"type=registry,ref=h/c:1",h/c:2`)
	t.Setenv("BAKERY_ENVIRONMENTS_PROD_REPOSITORY", "other.example/prod")
	t.Setenv("BAKERY_ENVIRONMENTS_DEV_INSECURE", "false")

	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	cfg, err := Load(Options{File: file, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	web := cfg.Targets["web"]
	if cfg.Builder.Address != "tcp://env:1234" || cfg.Builder.MaxParallel != 5 {
		t.Errorf("builder = %+v", cfg.Builder)
	}
	if web.Context != "elsewhere" || strings.Join(web.Platforms, " ") != "linux/riscv64 linux/s390x" || web.Args["VERSION"] != "2.0" {
		t.Errorf("web = %+v", web)
	}
	if len(web.CacheFrom) != 2 || web.CacheFrom[0] != "type=registry,ref=h/c:1" || web.CacheFrom[1] != "h/c:2" {
		t.Errorf("cache_from = %q", web.CacheFrom)
	}
	if cfg.Environments[1].Repository != "other.example/prod" || cfg.Environments[0].Insecure {
		t.Errorf("environments = %+v", cfg.Environments)
	}

	if err := fs.Parse([]string{"--builder", "unix:///flag.sock", "--max-parallel", "9"}); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(Options{File: file, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Builder.Address != "unix:///flag.sock" || cfg.Builder.MaxParallel != 9 {
		t.Errorf("flags did not win: %+v", cfg.Builder)
	}
}

func TestOverrideBadEnvValue(t *testing.T) {
	t.Setenv("BAKERY_BUILDER_MAX_PARALLEL", "many")
	_, err := Load(Options{File: write(t, valid)})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "BAKERY_BUILDER_MAX_PARALLEL") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseCache(t *testing.T) {
	c, err := ParseCache("host/repo:cache")
	if err != nil || c.Type != "registry" || c.Attrs["ref"] != "host/repo:cache" {
		t.Errorf("bare ref: %+v %v", c, err)
	}
	c, err = ParseCache("type=local,src=/tmp/cache")
	if err != nil || c.Type != "local" || c.Attrs["src"] != "/tmp/cache" {
		t.Errorf("local: %+v %v", c, err)
	}
	for _, bad := range []string{"", "type=registry", "type=registry,nokv"} {
		if _, err := ParseCache(bad); err == nil {
			t.Errorf("ParseCache(%q) succeeded", bad)
		}
	}
}

func TestErrorsAreOneLineEach(t *testing.T) {
	_, err := Load(Options{File: write(t, "version: 2\ntargets: {}\nenvironments: []\n")})
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 3 {
		t.Fatalf("want several problems reported at once, got %v", err)
	}
	for _, e := range joined.Unwrap() {
		if strings.Contains(e.Error(), "\n") {
			t.Errorf("multi-line error: %q", e)
		}
	}
}

func TestVerificationKeysWithoutAConfigFile(t *testing.T) {
	t.Chdir(t.TempDir())
	keys, err := VerificationKeys(Options{})
	if err != nil || keys != nil {
		t.Fatalf("no file, no env: %v %v", keys, err)
	}
	t.Setenv("BAKERY_VERIFICATION_KEYS", "a.pub,awskms:///alias/b")
	keys, err = VerificationKeys(Options{})
	if err != nil || strings.Join(keys, " ") != "a.pub awskms:///alias/b" {
		t.Fatalf("env only: %v %v", keys, err)
	}
	file := write(t, valid+"verification:\n  keys: [k.pub]\n")
	t.Setenv("BAKERY_VERIFICATION_KEYS", "")
	keys, err = VerificationKeys(Options{File: file})
	if err != nil || len(keys) != 1 || keys[0] != filepath.Join(filepath.Dir(file), "k.pub") {
		t.Fatalf("from file: %v %v", keys, err)
	}
}

func TestKeylessConfiguration(t *testing.T) {
	keyless := valid + `signing:
  keyless:
    fulcio_url: https://fulcio.example
    rekor_url: https://rekor.example
    oidc_issuer: https://issuer.example
`
	cfg, err := Load(Options{File: write(t, keyless)})
	if err != nil || cfg.Signing.Keyless == nil || cfg.Signing.Keyless.FulcioURL != "https://fulcio.example" {
		t.Fatalf("valid keyless: %+v %v", cfg, err)
	}
	bad := strings.Replace(keyless, "https://rekor.example", "rekor", 1) + "  key: cosign.key\n"
	_, err = Load(Options{File: write(t, bad)})
	for _, want := range []string{"signing.keyless.rekor_url", "signing.keyless: cannot be combined with signing.key"} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("err %v lacks %q", err, want)
		}
	}
	missing := strings.Replace(keyless, "    oidc_issuer: https://issuer.example\n", "", 1)
	if _, err := Load(Options{File: write(t, missing)}); !strings.Contains(fmt.Sprint(err), "signing.keyless.oidc_issuer: required") {
		t.Errorf("missing issuer: %v", err)
	}
}

func TestLookups(t *testing.T) {
	cfg, err := Load(Options{File: write(t, valid)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.TargetNames(), ",") != "ami,web" {
		t.Errorf("TargetNames = %v", cfg.TargetNames())
	}
	if tg, err := cfg.LookupTarget("web"); err != nil || tg.Name != "web" {
		t.Errorf("LookupTarget(web) = %v, %v", tg, err)
	}
	_, err = cfg.LookupTarget("nope")
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), `target "nope": not defined in `) || !strings.Contains(err.Error(), "known targets: ami, web") {
		t.Errorf("LookupTarget(nope) = %v", err)
	}
	if e, i, err := cfg.LookupEnvironment("prod"); err != nil || e.Name != "prod" || i != 1 {
		t.Errorf("LookupEnvironment(prod) = %v %d %v", e, i, err)
	}
	_, _, err = cfg.LookupEnvironment("qa")
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "environments: dev, prod") {
		t.Errorf("LookupEnvironment(qa) = %v", err)
	}
}

// TestNodes: builder.address is a fleet of one node named default; listed
// nodes get names and bounds, and builder.max_parallel defaults to the sum
// of theirs; emulation is on unless turned off.
func TestNodes(t *testing.T) {
	cfg, err := Load(Options{File: write(t, valid)})
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Builder.Nodes; len(n) != 1 || n[0].Name != "default" || n[0].Address != "unix:///run/buildkit/buildkitd.sock" || n[0].MaxParallel != 3 {
		t.Errorf("the node of builder.address: %+v", n)
	}
	if !cfg.Builder.EmulationAllowed() {
		t.Error("emulation is off by default")
	}
	// --builder (or BAKERY_BUILDER_ADDRESS) names one buildkitd for the run:
	// it replaces a fleet the file lists.
	t.Setenv("BAKERY_BUILDER_ADDRESS", "tcp://10.9.9.9:1234")
	if cfg, err = Load(Options{File: write(t, withNodes(nodesYAML))}); err != nil {
		t.Fatal(err)
	}
	if n := cfg.Builder.Nodes; len(n) != 1 || n[0].Address != "tcp://10.9.9.9:1234" {
		t.Errorf("the override did not replace the fleet: %+v", n)
	}
	t.Setenv("BAKERY_BUILDER_ADDRESS", "")
	fleet := strings.Replace(withNodes(nodesYAML+"  emulation: false\n"), "  max_parallel: 3\n", "", 1)
	if cfg, err = Load(Options{File: write(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	n := cfg.Builder.Nodes
	if len(n) != 2 || n[0].Name != "node-1" || n[1].Name != "arm" || n[1].MaxParallel != DefaultMaxParallel ||
		cfg.Builder.MaxParallel != 2*DefaultMaxParallel || cfg.Builder.EmulationAllowed() || n[1].Platforms[0] != "linux/arm64" {
		t.Errorf("fleet: %+v, max_parallel %d, emulation %v", n, cfg.Builder.MaxParallel, cfg.Builder.EmulationAllowed())
	}
}

// TestPackerTargetSuites: a packer target may list suite files (the
// bakery-test provisioner runs them inside the machine), but a suite with a
// metadataTest is refused at the suite file's line, as a machine image has
// no image config.
func TestPackerTargetSuites(t *testing.T) {
	withSuite := strings.Replace(valid, "    template: ami.pkr.hcl\n",
		"    template: ami.pkr.hcl\n    tests:\n      - {name: hardening, file: tests/ami.yaml}\n      - {name: smoke, external: true}\n", 1)
	file := write(t, withSuite)
	suite := filepath.Join(filepath.Dir(file), "tests", "ami.yaml")
	if err := os.MkdirAll(filepath.Dir(suite), 0o755); err != nil {
		t.Fatal(err)
	}
	files := "schemaVersion: 2.0.0\nfileExistenceTests:\n  - {name: motd, path: /etc/motd}\n"
	if err := os.WriteFile(suite, []byte(files), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{File: file})
	if err != nil {
		t.Fatalf("a packer target with a suite file: %v", err)
	}
	if got := cfg.Targets["ami"].RunnableTests(); len(got) != 1 || got[0].Name != "hardening" {
		t.Errorf("runnable suites of ami: %+v", got)
	}

	if err := os.WriteFile(suite, []byte(files+"metadataTest:\n  user: app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(Options{File: file})
	if failure.ClassOf(err) != failure.Config {
		t.Fatalf("a packer target's suite with a metadataTest: %v (class %v), want a config error", err, failure.ClassOf(err))
	}
	for _, w := range []string{suite + ":4:", "metadataTest", `target "ami" is a machine image`, "command and file tests"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}

	// A container target's suite may have one.
	onWeb := strings.Replace(valid, "  ami:\n", "    tests:\n      - {name: hardening, file: tests/ami.yaml}\n  ami:\n", 1)
	if err := os.WriteFile(file, []byte(onWeb), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{File: file}); err != nil {
		t.Errorf("a container target's suite with a metadataTest: %v", err)
	}
}

func TestPluginTarget(t *testing.T) {
	t.Setenv(string(env.Config), "")
	t.Setenv(string(env.Target), "")
	if f, tg := PluginTarget("", "", "debian"); f != DefaultFile || tg != "debian" {
		t.Errorf("defaults: %q %q", f, tg)
	}
	t.Setenv(string(env.Config), "/p/bakery.yaml")
	t.Setenv(string(env.Target), "golden-ami")
	if f, tg := PluginTarget("", "", "debian"); f != "/p/bakery.yaml" || tg != "golden-ami" {
		t.Errorf("from bakery build: %q %q", f, tg)
	}
	if f, tg := PluginTarget("x.yaml", "ami", "debian"); f != "x.yaml" || tg != "ami" {
		t.Errorf("set in the template: %q %q", f, tg)
	}
}

func TestDeployFiles(t *testing.T) {
	cfg, err := Load(Options{File: write(t, valid+`    deploy:
      files:
        - path: deploy/prod/kustomization.yaml
          format: kustomize
          target: web
          image: web
        - path: deploy/prod/values.yaml
          format: helm
          target: web
        - path: deploy/prod/ami.tfvars
          format: terraform
          target: ami
          image: ami_id
`)})
	if err != nil {
		t.Fatal(err)
	}
	prod := &cfg.Environments[1]
	files, idx := prod.DeployFiles("web")
	if len(files) != 2 || idx[1] != 1 || files[1].Image != "image" {
		t.Fatalf("DeployFiles(web) = %+v %v; want 2, helm's image defaulting to \"image\"", files, idx)
	}
	if got, want := cfg.DeployPath(files[0]), filepath.Join(cfg.Dir, "deploy/prod/kustomization.yaml"); got != want {
		t.Errorf("DeployPath = %q, want %q", got, want)
	}
	if files, _ := cfg.Environments[0].DeployFiles("web"); files != nil {
		t.Errorf("dev has no deploy files, got %+v", files)
	}

	for _, tc := range []struct{ files, want string }{
		{"        - {path: a.yaml, format: jsonnet, target: web, image: web}\n", `environments[1].deploy.files[0].format: unknown format "jsonnet" (use one of kustomize, helm, manifest, ecs, terraform)`},
		{"        - {path: a.yaml, format: manifest, target: nope, image: web}\n", `environments[1].deploy.files[0].target: unknown target "nope"`},
		{"        - {format: manifest, target: web, image: web}\n", `environments[1].deploy.files[0].path: required`},
		{"        - {path: a.yaml, format: manifest, target: web}\n", `environments[1].deploy.files[0].image: required`},
		{"        - {path: a.yaml, format: manifest, target: web, image: web}\n        - {path: ./a.yaml, format: manifest, target: ami, image: web}\n",
			`environments[1].deploy.files[1]: duplicate of path "./a.yaml", format manifest, image "web"`},
	} {
		_, err := Load(Options{File: write(t, valid+"    deploy:\n      files:\n"+tc.files)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.files, err, tc.want)
			continue
		}
		if failure.ClassOf(err) != failure.Config || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: want one config error line, got %v", tc.files, err)
		}
	}
}
