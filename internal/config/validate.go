package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/internal/failure"
)

// ReservedRepository is the repository, under each environment's prefix,
// that holds the revocation list (package revoke); no target may use it.
const ReservedRepository = "bakery-revocations"

// targetName is what a target may be called: it becomes a repository path component.
var targetName = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// problems collects every validation problem, each tied to its file:line and key.
type problems struct {
	lines *lines
	errs  []error
}

func (p *problems) add(path, hint, format string, args ...any) {
	p.errs = append(p.errs, failure.New(failure.Config, p.lines.at(path),
		fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)), hint))
}

func (c *Config) validate(l *lines) error {
	p := &problems{lines: l}
	if c.Version != 1 {
		if c.Version == 0 {
			p.add("version", "add `version: 1` at the top of the file", "required")
		} else {
			p.add("version", "this bakery reads schema version 1", "unsupported version %d", c.Version)
		}
	}
	c.validateBuilder(p)
	c.validateSigning(p)
	c.validateRegistry(p)
	c.validateSBOM(p)
	if len(c.Targets) == 0 {
		p.add("targets", "add at least one target; see docs/config.md", "required")
	}
	for name, t := range c.Targets {
		t.validate(p, join("targets", name))
		c.validateTargetArgs(p, t, join("targets", name))
		c.validateTests(p, t, join("targets", name))
	}
	if len(c.Environments) == 0 {
		p.add("environments", "add at least one environment; the first receives builds", "required")
	}
	seen := map[string]bool{}
	for i, e := range c.Environments {
		path := fmt.Sprintf("environments[%d]", i)
		if e.Name == "" {
			p.add(path+".name", "name every environment, e.g. dev, staging, prod", "required")
		} else if seen[e.Name] {
			p.add(path+".name", "environment names must be unique", "duplicate environment %q", e.Name)
		}
		seen[e.Name] = true
		if e.Repository == "" {
			p.add(path+".repository", "set a repository prefix such as registry.example/team", "required")
		} else if _, err := name.NewRepository(e.Repository + "/x"); err != nil {
			p.add(path+".repository", "use host[:port]/path in lower case", "%q is not a valid repository: %v", e.Repository, err)
		}
		if e.MaxAgeDays < 0 {
			p.add(path+".max_age_days", "use a number of days, or 0 for no limit", "%d is negative", e.MaxAgeDays)
		}
		c.validateTestedIn(p, i, path)
		c.validateVulnPolicy(p, e.Vulnerabilities, path)
		c.validateDeploy(p, e.Deploy, path)
		validateRetention(p, e.Retention, path+".retention")
		if _, err := e.RenderTag("target"); err != nil {
			p.add(path+".tag", "use a template such as {{ .Env }} or {{ .Target }}-{{ .Env }}", "%v", err)
		}
		if e.AWS != nil {
			for j, r := range e.AWS.Regions {
				if !awsRegion.MatchString(r) {
					p.add(fmt.Sprintf("%s.aws.regions[%d]", path, j), "use a region name such as us-east-1", "invalid region %q", r)
				}
			}
			for j, a := range e.AWS.Accounts {
				if !awsAccount.MatchString(a) {
					p.add(fmt.Sprintf("%s.aws.accounts[%d]", path, j), "use the 12-digit account id, quoted", "invalid account id %q", a)
				}
			}
			c.validateRollout(p, e.AWS, path+".aws")
		}
	}
	c.validateVulnerabilities(p)
	validateRetention(p, &c.Retention, "retention")
	return errors.Join(p.errs...)
}

// validateRetention checks a retention block: a window of at least one
// digest (rollback needs the one before) and a duration.
func validateRetention(p *problems, r *Retention, path string) {
	if r == nil {
		return
	}
	if r.RollbackWindow != nil && *r.RollbackWindow < 1 {
		p.add(path+".rollback_window", "keep at least 1 digest (the one the environment runs); rollback needs 2", "%d is less than 1", *r.RollbackWindow)
	}
	if d, err := time.ParseDuration(r.MinAge); r.MinAge != "" && (err != nil || d < 0) {
		p.add(path+".min_age", "use a Go duration such as 168h, or 0 for none", "invalid duration %q", r.MinAge)
	}
}

// validateRollout checks aws.rollout: a machine-image target, a region of
// the environment's, a well-formed template name or id, groups named, a
// percentage, and no template listed twice for one target and region.
func (c *Config) validateRollout(p *problems, a *AWS, path string) {
	seen := map[string]int{}
	for i, r := range a.Rollout {
		at := fmt.Sprintf("%s.rollout[%d]", path, i)
		switch t, ok := c.Targets[r.Target]; {
		case r.Target == "":
			p.add(at+".target", "name the machine-image target the launch template runs", "required")
		case !ok:
			p.add(at+".target", "name a target of targets:", "unknown target %q", r.Target)
		case t.Type != TypePacker:
			p.add(at+".target", "only machine images (type: packer) have AMIs to roll out", "target %q is a %s target", r.Target, t.Type)
		}
		switch {
		case r.Region == "":
			p.add(at+".region", "name the launch template's region", "required")
		case !awsRegion.MatchString(r.Region):
			p.add(at+".region", "use a region name such as us-east-1", "invalid region %q", r.Region)
		case len(a.Regions) > 0 && !slices.Contains(a.Regions, r.Region):
			p.add(at+".region", "add it to aws.regions, or name one of them: the environment has AMIs only there", "%q is not one of aws.regions %v", r.Region, a.Regions)
		}
		switch lt := r.LaunchTemplate; {
		case lt == "":
			p.add(at+".launch_template", "name the launch template, or give its id (lt-…)", "required")
		case strings.HasPrefix(lt, "lt-") && !launchTemplateID.MatchString(lt):
			p.add(at+".launch_template", "a launch template id is lt- and 17 hex digits; or give its name", "invalid launch template id %q", lt)
		case !strings.HasPrefix(lt, "lt-") && !launchTemplateName.MatchString(lt):
			p.add(at+".launch_template", "launch template names are 3 to 128 letters, digits and ( ) . - / _", "invalid launch template name %q", lt)
		}
		key := r.Target + "\x00" + r.Region + "\x00" + r.LaunchTemplate
		if j, dup := seen[key]; dup {
			p.add(at, "list each launch template once per target and region", "the same target, region and launch template as %s.rollout[%d]", path, j)
		}
		seen[key] = i
		for j, g := range r.AutoScalingGroups {
			if g == "" || len(g) > 255 {
				p.add(fmt.Sprintf("%s.auto_scaling_groups[%d]", at, j), "name an Auto Scaling group (1 to 255 characters)", "invalid group name %q", g)
			}
		}
		if m := r.MinHealthyPercentage; m != nil && (*m < 0 || *m > 100) {
			p.add(at+".min_healthy_percentage", "use a percentage from 0 to 100 (default 90)", "%d is out of range", *m)
		}
	}
}

// validateVulnerabilities checks vulnerabilities: a database age, VEX files
// that exist, waivers with an id, a known target and a date.
func (c *Config) validateVulnerabilities(p *problems) {
	v := c.Vulnerabilities
	if d, err := time.ParseDuration(v.MaxDBAge); v.MaxDBAge != "" && (err != nil || d < 0) {
		p.add("vulnerabilities.max_db_age", "use a Go duration such as 120h, or 0 for no limit", "invalid duration %q", v.MaxDBAge)
	}
	for i, f := range v.VEX {
		if _, err := os.Stat(c.path(f)); err != nil {
			p.add(fmt.Sprintf("vulnerabilities.vex[%d]", i), "name an OpenVEX file (relative to the config file)", "%v", err)
		}
	}
	for i, w := range v.Waivers {
		path := fmt.Sprintf("vulnerabilities.waivers[%d]", i)
		if w.ID == "" {
			p.add(path+".id", "name the vulnerability, e.g. CVE-2024-1234", "required")
		}
		if _, ok := c.Targets[w.Target]; !ok && w.Target != "*" {
			p.add(path+".target", "name a target, or * for every target", "unknown target %q", w.Target)
		}
		if _, err := time.Parse(time.DateOnly, w.Until); err != nil {
			p.add(path+".until", "use the last day the waiver holds, YYYY-MM-DD", "invalid date %q", w.Until)
		}
		if w.Reason == "" || w.ApprovedBy == "" {
			p.add(path, "say why (reason) and who accepted it (approved_by)", "a waiver needs reason and approved_by")
		}
	}
}

// validateVulnPolicy checks an environment's vulnerabilities policy.
func (c *Config) validateVulnPolicy(p *problems, v *VulnPolicy, path string) {
	if v == nil {
		return
	}
	path += ".vulnerabilities"
	if v.DenySeverity != "" && !slices.Contains(Severities, v.DenySeverity) {
		p.add(path+".deny_severity", "use one of "+strings.Join(Severities, ", "), "unknown severity %q", v.DenySeverity)
	}
	if d, err := time.ParseDuration(v.MaxAge); v.MaxAge != "" && (err != nil || d <= 0) {
		p.add(path+".max_age", "use a Go duration such as 24h", "invalid duration %q", v.MaxAge)
	}
}

// validateTests checks a target's test suites: named uniquely, each with a
// file that exists or marked external, and no metadataTest for a machine
// image. The suite's content is checked when it is read (imagetest.Load
// names file:line).
func (c *Config) validateTests(p *problems, t *Target, path string) {
	seen := map[string]bool{}
	for i, s := range t.Tests {
		sp := fmt.Sprintf("%s.tests[%d]", path, i)
		switch {
		case !targetName.MatchString(s.Name):
			p.add(sp+".name", "name the suite with lower-case letters, digits and . _ -, e.g. smoke", "invalid suite name %q", s.Name)
		case seen[s.Name]:
			p.add(sp+".name", "suite names must be unique within a target", "duplicate suite %q", s.Name)
		}
		seen[s.Name] = true
		switch {
		case s.External && s.File != "":
			p.add(sp, "remove file (an external suite's results come from bakery test --junit), or external", "suite %q is both external and a file", s.Name)
		case !s.External && s.File == "":
			p.add(sp+".file", "name a container-structure-test file, or set external: true", "required")
		case !s.External:
			if _, err := os.Stat(c.path(s.File)); err != nil {
				p.add(sp+".file", "create the suite file, or fix the path (relative to the config file)", "%v", err)
			}
		}
	}
	if t.Type == TypePacker {
		c.rejectMetadataTests(p, t)
	}
}

// validateTestedIn checks environment i's tested_in: an earlier environment,
// suites some target defines, a valid soak.
func (c *Config) validateTestedIn(p *problems, i int, path string) {
	ti := c.Environments[i].TestedIn
	if ti == nil {
		return
	}
	path += ".tested_in"
	earlier := slices.IndexFunc(c.Environments[:i], func(e Environment) bool { return e.Name == ti.Environment }) >= 0
	if !earlier {
		p.add(path+".environment", "name an environment listed before this one, e.g. staging", "%q is not an earlier environment", ti.Environment)
	}
	if len(ti.Suites) == 0 {
		p.add(path+".suites", "list the suites (a target's tests: names) that must have passed there", "required")
	}
	for j, s := range ti.Suites {
		defined := false
		for _, t := range c.Targets {
			_, ok := t.Suite(s)
			defined = defined || ok
		}
		if !defined {
			p.add(fmt.Sprintf("%s.suites[%d]", path, j), "name a suite of a target's tests:", "no target defines suite %q", s)
		}
	}
	if d, err := time.ParseDuration(ti.Soak); ti.Soak != "" && (err != nil || d < 0) {
		p.add(path+".soak", "use a Go duration such as 30m or 24h", "invalid soak %q", ti.Soak)
	}
}

// validateTargetArgs checks each arg that names a target (target:NAME):
// NAME is another container target of this file. A packer variable cannot
// name one.
func (c *Config) validateTargetArgs(p *problems, t *Target, path string) {
	for key, vals := range map[string]map[string]string{"args": t.Args, "variables": t.Variables} {
		for k, v := range vals {
			other, ok := TargetArg(v)
			if !ok {
				continue
			}
			at := join(join(path, key), k)
			b, found := c.Targets[other]
			switch {
			case key == "variables":
				p.add(at, "pass the image by reference; target:NAME is for container build args", "a packer variable cannot name a target")
			case !found:
				p.add(at, "name one of: "+strings.Join(c.TargetNames(), ", "), "no target named %q", other)
			case other == t.Name:
				p.add(at, "name another target", "a target cannot be built on itself")
			case b.Type != TypeContainer:
				p.add(at, "name a container target", "target %q is a %s target, not an image", other, b.Type)
			}
		}
	}
}

// TargetArg reports whether a build arg's value names a target
// (target:NAME), and which.
func TargetArg(v string) (string, bool) {
	name, ok := strings.CutPrefix(v, TargetArgPrefix)
	return name, ok && name != ""
}

// TargetArgPrefix starts a build arg that names another target's image.
const TargetArgPrefix = "target:"

var (
	awsRegion  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	awsAccount = regexp.MustCompile(`^\d{12}$`)
	// launchTemplateID and launchTemplateName are what EC2 accepts.
	launchTemplateID   = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
	launchTemplateName = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
)

func (c *Config) validateRegistry(p *problems) {
	if c.Registry.Attempts < 1 || c.Registry.Attempts > 20 {
		p.add("registry.attempts", "use 1 to 20", "%d is out of range", c.Registry.Attempts)
	}
	for key, v := range map[string]string{"request_timeout": c.Registry.RequestTimeout, "max_retry_wait": c.Registry.MaxRetryWait, "timeout": c.Registry.Timeout} {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			p.add("registry."+key, `use a duration such as "30s" or "10m"`, "%q is not a positive duration", v)
		}
	}
}

func (c *Config) validateSBOM(p *problems) {
	if n := c.SBOM.Namespace; n != "" {
		u, err := url.Parse(n)
		switch {
		case err != nil || !u.IsAbs() || u.Opaque != "":
			p.add("sbom.namespace", "use an absolute URI such as https://sbom.example.com/golden", "%q is not an absolute URI", n)
		case strings.ContainsAny(n, "#"):
			p.add("sbom.namespace", "remove the '#': SPDX uses it to separate element ids", "%q has a fragment", n)
		}
	}
	if d := c.SBOM.CacheDir; d != "" && d != SBOMCacheOff && !filepath.IsAbs(d) {
		p.add("sbom.cache_dir", "use an absolute directory, or off", "%q is not absolute", d)
	}
	if c.SBOM.CacheMaxMiB < 0 {
		p.add("sbom.cache_max_mib", "use a size in MiB, or 0 for the default 512", "%d is negative", c.SBOM.CacheMaxMiB)
	}
	if strings.ContainsAny(c.SBOM.Organization, "\n\r") {
		p.add("sbom.organization", "use the organization's name on one line", "has a line break")
	}
}

func (c *Config) validateBuilder(p *problems) {
	b := c.Builder
	if b.listed && b.Address != "" {
		p.add("builder.address", "list every buildkitd under builder.nodes, or use builder.address alone",
			"set together with builder.nodes")
	}
	key := func(i int, k string) string {
		if !b.listed {
			return "builder." + k
		}
		return fmt.Sprintf("builder.nodes[%d].%s", i, k)
	}
	seen := map[string]int{}
	for i, n := range b.Nodes {
		validateNode(p, n, func(k string) string { return key(i, k) })
		for _, id := range []string{"address " + n.Address, "name " + n.Name} {
			if j, dup := seen[id]; dup {
				p.add(key(i, strings.Fields(id)[0]), "give each node its own address and name", "the same %s as builder.nodes[%d]", id, j)
			}
			seen[id] = i
		}
	}
	if b.MaxParallel < 1 {
		p.add("builder.max_parallel", "use 1 or more", "must be at least 1, got %d", b.MaxParallel)
	}
}

func validateNode(p *problems, n Node, key func(string) string) {
	u, err := url.Parse(n.Address)
	switch {
	case err != nil:
		p.add(key("address"), "use unix:///path/to/buildkitd.sock or tcp://host:port", "%v", err)
	case u.Scheme != "unix" && u.Scheme != "tcp":
		p.add(key("address"), "use unix:///path/to/buildkitd.sock or tcp://host:port", "unsupported scheme %q", u.Scheme)
	}
	tls := n.TLS
	if (tls.Cert == "") != (tls.Key == "") {
		p.add(key("tls"), "set both cert and key, or neither", "cert and key must be given together")
	}
	if (tls.CACert != "" || tls.Cert != "") && u != nil && u.Scheme != "tcp" {
		p.add(key("tls"), "TLS applies to tcp:// addresses only", "set for a %s:// address", u.Scheme)
	}
	for k, f := range map[string]string{"ca_cert": tls.CACert, "cert": tls.Cert, "key": tls.Key} {
		if f == "" {
			continue
		}
		if fh, err := os.Open(f); err != nil {
			p.add(key("tls."+k), "point it at a readable PEM file", "%v", err)
		} else {
			fh.Close()
		}
	}
	for _, pl := range n.Platforms {
		if _, err := platforms.Parse(pl); err != nil || strings.Count(pl, "/") < 1 {
			p.add(key("platforms"), "use os/arch[/variant], such as linux/arm64", "%q is not a platform", pl)
		}
	}
	if n.MaxParallel < 1 {
		p.add(key("max_parallel"), "use 1 or more", "must be at least 1, got %d", n.MaxParallel)
	}
}

func (c *Config) validateSigning(p *problems) {
	k := c.Signing.Keyless
	if k == nil {
		return
	}
	if c.Signing.Key != "" {
		p.add("signing.keyless", "remove signing.key or signing.keyless", "cannot be combined with signing.key")
	}
	for key, v := range map[string]string{"fulcio_url": k.FulcioURL, "rekor_url": k.RekorURL, "oidc_issuer": k.OIDCIssuer} {
		u, err := url.Parse(v)
		switch {
		case v == "":
			p.add("signing.keyless."+key, "keyless signing needs Fulcio, Rekor and an OIDC issuer", "required")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			p.add("signing.keyless."+key, "use an https:// URL", "%q is not a URL", v)
		}
	}
}

func (t *Target) validate(p *problems, path string) {
	if !targetName.MatchString(t.Name) {
		p.add(path, "use lower-case letters, digits and . _ - (it becomes part of the repository)", "invalid target name %q", t.Name)
	}
	if t.Name == ReservedRepository {
		p.add(path, "pick another name", "%q is where bakery keeps the revocation list", t.Name)
	}
	containerOnly := map[string]bool{
		"context": t.Context != "", "dockerfile": t.Dockerfile != "", "target": t.Target != "",
		"args": len(t.Args) > 0, "labels": len(t.Labels) > 0, "platforms": len(t.Platforms) > 0,
		"secrets": len(t.Secrets) > 0, "cache_from": len(t.CacheFrom) > 0, "cache_to": len(t.CacheTo) > 0,
	}
	packerOnly := map[string]bool{
		"template": t.Template != "", "variables": len(t.Variables) > 0, "only": len(t.Only) > 0, "except": len(t.Except) > 0,
	}
	switch t.Type {
	case TypeContainer:
		rejectSet(p, path, packerOnly, "a container target")
		for i, pl := range t.Platforms {
			if _, err := platforms.Parse(pl); err != nil || strings.Count(pl, "/") < 1 {
				p.add(fmt.Sprintf("%s.platforms[%d]", path, i), "use os/arch[/variant], e.g. linux/amd64", "invalid platform %q", pl)
			}
		}
		for i, s := range t.Secrets {
			sp := fmt.Sprintf("%s.secrets[%d]", path, i)
			if s.ID == "" {
				p.add(sp+".id", "give the id that RUN --mount=type=secret,id=... uses", "required")
			}
			if (s.Env == "") == (s.File == "") {
				p.add(sp, "set exactly one of env or file", "secret %q needs one source", s.ID)
			}
		}
		for key, refs := range map[string][]string{"cache_from": t.CacheFrom, "cache_to": t.CacheTo} {
			for i, r := range refs {
				if _, err := ParseCache(r); err != nil {
					p.add(fmt.Sprintf("%s.%s[%d]", path, key, i), "use type=registry,ref=host/repo:tag or a plain reference", "%v", err)
				}
			}
		}
	case TypePacker:
		rejectSet(p, path, containerOnly, "a packer target")
		if t.Template == "" {
			p.add(path+".template", "name the Packer template (.pkr.hcl) to build", "required for a packer target")
		}
	case "":
		p.add(path+".type", "set type: container or type: packer", "required")
	default:
		p.add(path+".type", "set type: container or type: packer", "unknown type %q", t.Type)
	}
}

// rejectMetadataTests refuses a metadataTest in a packer target's suite
// files, at its file:line: a machine image has no image config to check
// (the bakery-test provisioner runs the suites inside the machine). A file
// that does not parse is left to imagetest, which names its problems when
// the suite is read.
func (c *Config) rejectMetadataTests(p *problems, t *Target) {
	for _, s := range t.RunnableTests() {
		file := c.path(s.File)
		raw, err := os.ReadFile(file)
		if err != nil {
			continue // validateTests names a missing file
		}
		var root yaml.Node
		if yaml.Unmarshal(raw, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
			continue
		}
		doc := root.Content[0]
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if k := doc.Content[i]; k.Value == "metadataTest" {
				p.errs = append(p.errs, failure.New(failure.Config, fmt.Sprintf("%s:%d", file, k.Line),
					fmt.Errorf("metadataTest: target %q is a machine image, which has no image config to test", t.Name),
					"remove metadataTest from the suite; check the machine with command and file tests"))
			}
		}
	}
}

func rejectSet(p *problems, path string, set map[string]bool, what string) {
	for key, isSet := range set {
		if isSet {
			p.add(join(path, key), "remove it, or change the target's type", "not valid for %s", what)
		}
	}
}

// RenderTag renders the environment's tag for a target and checks it is a valid tag.
func (e *Environment) RenderTag(target string) (string, error) {
	tmpl, err := template.New("tag").Option("missingkey=error").Parse(e.Tag)
	if err != nil {
		return "", fmt.Errorf("bad template %q: %w", e.Tag, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct{ Target, Env string }{target, e.Name}); err != nil {
		return "", fmt.Errorf("bad template %q: %w", e.Tag, err)
	}
	tag := b.String()
	if _, err := name.NewTag("example.invalid/x:" + tag); err != nil || tag == "" {
		return "", fmt.Errorf("template %q renders %q, which is not a valid tag", e.Tag, tag)
	}
	return tag, nil
}

// Locate returns the tag that names what this environment runs for target;
// its Context() is the target's repository in the environment. An error is a
// failure.Config error about the environment.
func (e *Environment) Locate(target string) (name.Tag, error) {
	repo, err := e.RepositoryFor(target)
	if err != nil {
		return name.Tag{}, failure.New(failure.Config, "environment "+e.Name, err, "fix its repository")
	}
	tag, err := e.RenderTag(target)
	if err != nil {
		return name.Tag{}, failure.New(failure.Config, "environment "+e.Name, err, "fix its tag")
	}
	return repo.Tag(tag), nil
}

// RepositoryFor returns the repository target lives in, in this environment.
func (e *Environment) RepositoryFor(target string) (name.Repository, error) {
	var opts []name.Option
	if e.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(strings.TrimSuffix(e.Repository, "/")+"/"+target, opts...)
}

// Cache is a parsed cache_from / cache_to entry in buildx's syntax.
type Cache struct {
	Type  string
	Attrs map[string]string
}

// ParseCache parses "type=registry,ref=host/repo:tag,mode=max" or a bare reference.
func ParseCache(s string) (Cache, error) {
	if s == "" {
		return Cache{}, errors.New("empty cache entry")
	}
	if !strings.Contains(s, "=") {
		return Cache{Type: "registry", Attrs: map[string]string{"ref": s}}, nil
	}
	c := Cache{Attrs: map[string]string{}}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Cache{}, fmt.Errorf("%q: %q is not key=value", s, kv)
		}
		if k == "type" {
			c.Type = v
		} else {
			c.Attrs[k] = v
		}
	}
	if c.Type == "" {
		c.Type = "registry"
	}
	if c.Type == "registry" && c.Attrs["ref"] == "" {
		return Cache{}, fmt.Errorf("%q: a registry cache needs ref=", s)
	}
	return c, nil
}

// validateDeploy checks an environment's deploy files: a path, a known
// format and target, an image (helm defaults to "image"), each (path,
// format, image) once.
func (c *Config) validateDeploy(p *problems, d *Deploy, path string) {
	if d == nil {
		return
	}
	seen := map[[3]string]bool{}
	for i := range d.Files {
		f := &d.Files[i]
		fp := fmt.Sprintf("%s.deploy.files[%d]", path, i)
		if f.Format == FormatHelm && f.Image == "" {
			f.Image = "image"
		}
		if f.Path == "" {
			p.add(fp+".path", "name the file, relative to the config file", "required")
		}
		if !slices.Contains(DeployFormats, f.Format) {
			p.add(fp+".format", "use one of "+strings.Join(DeployFormats, ", "), "unknown format %q", f.Format)
		}
		if f.Target == "" {
			p.add(fp+".target", "name the target whose digest the file pins", "required")
		} else if _, ok := c.Targets[f.Target]; !ok {
			p.add(fp+".target", "use one of the targets: "+strings.Join(c.TargetNames(), ", "), "unknown target %q", f.Target)
		}
		if f.Image == "" {
			p.add(fp+".image", "name the image in the file (see docs/config.md, deploy)", "required")
		}
		key := [3]string{filepath.Clean(f.Path), f.Format, f.Image}
		if f.Path != "" && seen[key] {
			p.add(fp, "declare each image of a file once", "duplicate of path %q, format %s, image %q", f.Path, f.Format, f.Image)
		}
		seen[key] = true
	}
}
