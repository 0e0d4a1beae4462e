package policies

import (
	"bytes"
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the document every policy sees as `input`. Field names are the
// JSON names below; docs/policy.md describes each.
type Input struct {
	Image Image `json:"image"`
	// Target is the bakery target the image was built from.
	Target string `json:"target"`
	// Environment is the environment being promoted to; SourceEnvironment
	// the one the digest comes from ("" when given by --digest);
	// PreviousEnvironment the one before Environment in the config's order
	// ("" for the first).
	Environment         string `json:"environment"`
	SourceEnvironment   string `json:"source_environment"`
	PreviousEnvironment string `json:"previous_environment"`
	// AcceptDirect is the environment's accept_direct setting.
	AcceptDirect bool `json:"accept_direct"`
	// Signatures are the signatures of the digest that a trusted key verified.
	Signatures []Signature `json:"signatures"`
	SBOM       SBOM        `json:"sbom"`
	// Provenance is the verified SLSA provenance, or null.
	Provenance *Provenance `json:"provenance"`
	// Receipts are the verified promotion receipts the digest holds so far.
	Receipts []Receipt `json:"receipts"`
	Config   Config    `json:"config"`
	// Revoked says whether the signed revocation list revokes the digest.
	Revoked Revocation `json:"revoked"`
	// AgeDays is how many whole days ago the digest was built (its verified
	// provenance's finish time), or null when unknown; MaxAgeDays is the
	// environment's max_age_days (0: no limit).
	AgeDays    *int `json:"age_days"`
	MaxAgeDays int  `json:"max_age_days"`
	// SBOMDelta is the difference from what the environment runs now, when
	// the environment lists the sbom_delta policy and runs a verified digest;
	// null otherwise.
	SBOMDelta *Delta `json:"sbom_delta"`
	// Tests are the verified test results of this digest and target, one
	// per signed result, in no particular order: the policies order them by
	// Finished. bakery lists a result only when a trusted key signed it and
	// it names this digest and target.
	Tests []TestResult `json:"tests"`
	// TestedIn is the environment's tested_in requirement, or null when it
	// sets none.
	TestedIn *TestedIn `json:"tested_in"`
	// Vulnerabilities is the vulnerability evidence of the digest and the
	// environment's vulnerabilities policy.
	Vulnerabilities Vulnerabilities `json:"vulnerabilities"`
}

// Vulnerabilities is what the vulnerabilities policy decides on: the scan
// that counts for each platform (vuln.Scans: the newest database, then the
// newest scan; bound to the digest, target and platform), its findings
// judged by signed VEX and waivers, and the environment's policy.
type Vulnerabilities struct {
	// Policy is the environment's vulnerabilities policy, or null.
	Policy *VulnPolicy `json:"policy"`
	// Database is the build time (RFC 3339) of the database bakery has
	// loaded, "" when none is configured: a scan made with an older one
	// does not count.
	Database string `json:"database"`
	// Platforms are the platforms that need a scan ("" for an image that
	// is not an index, and a machine image).
	Platforms []string   `json:"platforms"`
	Scans     []VulnScan `json:"scans"`
}

// VulnPolicy is an environment's vulnerabilities policy; DenyRank is
// DenySeverity's rank (negligible 1 … critical 5; 0 denies none by
// severity).
type VulnPolicy struct {
	DenySeverity  string   `json:"deny_severity"`
	DenyRank      int      `json:"deny_rank"`
	OnlyFixed     bool     `json:"only_fixed"`
	DenyIDs       []string `json:"deny_ids"`
	MaxAgeSeconds int      `json:"max_age_seconds"`
}

// VulnScan is the scan that counts for one platform.
type VulnScan struct {
	Platform string `json:"platform"`
	// Finished is when it ended (RFC 3339), AgeSeconds how long ago.
	Finished   string `json:"finished"`
	AgeSeconds int    `json:"age_seconds"`
	// DBBuilt is its database's build time (RFC 3339).
	DBBuilt  string        `json:"db_built"`
	KeyID    string        `json:"key_id"`
	Findings []VulnFinding `json:"findings"`
}

// VulnFinding is one finding; Rank is its severity's (unknown 0,
// negligible 1 … critical 5); Suppressed says what suppresses it, "" when
// it counts.
type VulnFinding struct {
	ID         string   `json:"id"`
	Package    string   `json:"package"`
	Version    string   `json:"version"`
	Severity   string   `json:"severity"`
	Rank       int      `json:"rank"`
	FixedIn    []string `json:"fixed_in"`
	HasFix     bool     `json:"has_fix"`
	Suppressed string   `json:"suppressed"`
}

// term is v as JSON encodes it.
func (v Vulnerabilities) term() *ast.Term {
	policy := ast.NullTerm()
	if p := v.Policy; p != nil {
		policy = obj("deny_severity", p.DenySeverity, "deny_rank", p.DenyRank, "only_fixed", p.OnlyFixed,
			"deny_ids", strs(nonNil(p.DenyIDs)), "max_age_seconds", p.MaxAgeSeconds)
	}
	scans := make([]*ast.Term, len(v.Scans))
	for i, s := range v.Scans {
		fs := make([]*ast.Term, len(s.Findings))
		for j, f := range s.Findings {
			fs[j] = obj("id", f.ID, "package", f.Package, "version", f.Version, "severity", f.Severity, "rank", f.Rank,
				"fixed_in", strs(nonNil(f.FixedIn)), "has_fix", f.HasFix, "suppressed", f.Suppressed)
		}
		scans[i] = obj("platform", s.Platform, "finished", s.Finished, "age_seconds", s.AgeSeconds, "db_built", s.DBBuilt,
			"key_id", s.KeyID, "findings", ast.ArrayTerm(fs...))
	}
	return obj("policy", policy, "database", v.Database, "platforms", strs(nonNil(v.Platforms)), "scans", ast.ArrayTerm(scans...))
}

// TestResult is one verified test-result attestation of the digest (the
// in-toto test-result predicate with bakery's details, see imagetest.Result).
type TestResult struct {
	// Suite is the suite's name in the target's tests:.
	Suite string `json:"suite"`
	// Platform is the os/arch[/variant] tested; "" for a result about the
	// whole image (external JUnit results).
	Platform string `json:"platform"`
	// Environment is the environment whose digest was tested; "" for the
	// run of `bakery build`, before any environment.
	Environment string `json:"environment"`
	// Result is PASSED, WARNED or FAILED.
	Result string `json:"result"`
	// Finished is when the run ended (RFC 3339); AgeSeconds is how long ago
	// that was, at decision time.
	Finished   string `json:"finished"`
	AgeSeconds int    `json:"age_seconds"`
	// KeyID is the trusted key that verified the result; Runner the node
	// the suite ran on ("junit" for results produced elsewhere).
	KeyID  string `json:"key_id"`
	Runner string `json:"runner"`
}

// TestedIn is an environment's tested_in: the suites whose newest result
// in Environment must have PASSED at least SoakSeconds ago.
type TestedIn struct {
	Environment string   `json:"environment"`
	Suites      []string `json:"suites"`
	SoakSeconds int      `json:"soak_seconds"`
}

// testsTerm is ts as JSON encodes it.
func testsTerm(ts []TestResult) *ast.Term {
	items := make([]*ast.Term, len(ts))
	for i, t := range ts {
		items[i] = obj("suite", t.Suite, "platform", t.Platform, "environment", t.Environment, "result", t.Result,
			"finished", t.Finished, "age_seconds", t.AgeSeconds, "key_id", t.KeyID, "runner", t.Runner)
	}
	return ast.ArrayTerm(items...)
}

// term is t as JSON encodes it, or null.
func (t *TestedIn) term() *ast.Term {
	if t == nil {
		return ast.NullTerm()
	}
	return obj("environment", t.Environment, "suites", strs(nonNil(t.Suites)), "soak_seconds", t.SoakSeconds)
}

// Revocation is the revocation in force for the digest, if any.
type Revocation struct {
	Revoked     bool   `json:"revoked"`
	Reason      string `json:"reason,omitempty"`
	By          string `json:"by,omitempty"`
	EffectiveAt string `json:"effective_at,omitempty"`
	// Cause is the revoked base or dependency that cascaded to this digest.
	Cause string `json:"cause,omitempty"`
}

// term is r as JSON encodes it (empty fields left out).
func (r Revocation) term() *ast.Term {
	kv := []any{"revoked", r.Revoked}
	for _, f := range [][2]string{{"reason", r.Reason}, {"by", r.By}, {"effective_at", r.EffectiveAt}, {"cause", r.Cause}} {
		if f[1] != "" {
			kv = append(kv, f[0], f[1])
		}
	}
	return obj(kv...)
}

func intOrNull(n *int) *ast.Term {
	if n == nil {
		return ast.NullTerm()
	}
	return ast.IntNumberTerm(*n)
}

// term is d as JSON encodes it, or null.
func (d *Delta) term(pkg func(Package) *ast.Term) *ast.Term {
	if d == nil {
		return ast.NullTerm()
	}
	list := func(ps []Package) *ast.Term {
		ts := make([]*ast.Term, len(ps))
		for i, p := range ps {
			ts[i] = pkg(p)
		}
		return ast.ArrayTerm(ts...)
	}
	changed := make([]*ast.Term, len(d.Changed))
	for i, c := range d.Changed {
		changed[i] = obj("name", c.Name, "type", c.Type, "from", c.From, "to", c.To)
	}
	return obj("against", d.Against, "added", list(d.Added), "removed", list(d.Removed),
		"changed", ast.ArrayTerm(changed...), "new_licenses", strs(nonNil(d.NewLicenses)))
}

// NotRevoked is the shipped policy bakery evaluates for every environment.
const NotRevoked = "not_revoked"

// Image names the digest under decision.
type Image struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Reference  string `json:"reference"`
	// Platforms are the digest's platforms (os/arch[/variant]): those of its
	// index, or the one of an image that is not an index; empty for a
	// machine image.
	Platforms []string `json:"platforms"`
}

// Signature is a verified signature.
type Signature struct {
	KeyID    string `json:"key_id"`
	SignedAt string `json:"signed_at,omitempty"`
}

// SBOM is what the verified SBOM attestations list, all platforms together.
type SBOM struct {
	Present  bool      `json:"present"`
	Packages []Package `json:"packages"`
	// ByLicense and ByName index Packages ("name version" entries), so a
	// denylist is a few lookups rather than a scan of every package.
	ByLicense map[string][]string `json:"by_license"`
	ByName    map[string][]string `json:"by_name"`
	// Platforms lists each platform's packages (os/arch; "image" for an
	// image that is not an index); Packages is all of them merged.
	Platforms map[string][]Package `json:"platforms"`
}

// Index fills ByLicense and ByName from Packages.
func (s *SBOM) Index() {
	s.ByLicense, s.ByName = map[string][]string{}, map[string][]string{}
	for _, p := range s.Packages {
		id := p.Name + " " + p.Version
		s.ByName[p.Name] = append(s.ByName[p.Name], p.Version)
		for _, l := range p.Licenses {
			s.ByLicense[l] = append(s.ByLicense[l], id)
		}
	}
}

// Package is one package of the SBOM.
type Package struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Type     string   `json:"type"`
	Licenses []string `json:"licenses"`
}

// Provenance is the part of the SLSA provenance policies look at.
type Provenance struct {
	BuilderID            string   `json:"builder_id"`
	BuildType            string   `json:"build_type"`
	StartedOn            string   `json:"started_on,omitempty"`
	FinishedOn           string   `json:"finished_on,omitempty"`
	ResolvedDependencies []string `json:"resolved_dependencies"`
}

// Receipt is a verified promotion receipt.
type Receipt struct {
	// Target and Repository are what the receipt was issued for; a receipt
	// only counts for the target it names (receipt.Read drops the others).
	Target      string `json:"target"`
	Repository  string `json:"repository"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Time        string `json:"time"`
	KeyID       string `json:"key_id"`
	Result      string `json:"result"`
	Action      string `json:"action"`
	// Replaced is the digest a forced import replaced (receipt.Metadata).
	Replaced string `json:"replaced,omitempty"`
	// From is the source environment of a promotion or import, or the
	// digest a rollback replaced (receipt.Metadata).
	From string `json:"from,omitempty"`
	// Reason is why the step was taken, when one was given.
	Reason string `json:"reason,omitempty"`
	// Actor is who took the step, when known.
	Actor string `json:"actor,omitempty"`
}

// Config is the policy section of bakery.yaml.
type Config struct {
	AllowedBuilders  []string `json:"allowed_builders"`
	LicenseDenylist  []string `json:"license_denylist"`
	PackageDenylist  []string `json:"package_denylist"`
	LicenseAllowlist []string `json:"license_allowlist"`
	PackageAllowlist []string `json:"package_allowlist"`
	// Tests are the suites the target configures that bakery runs itself
	// (external suites left out): the tested policy requires each.
	Tests []string `json:"tests"`
}

// document converts the input to OPA's value directly (a JSON round trip
// costs half a millisecond on an image's worth of packages). Keys are the
// JSON names above; TestDocumentMatchesJSON keeps the two in step.
func (in Input) document() (ast.Value, error) {
	sigs := make([]*ast.Term, len(in.Signatures))
	for i, s := range in.Signatures {
		if s.SignedAt != "" {
			sigs[i] = obj("key_id", s.KeyID, "signed_at", s.SignedAt)
		} else {
			sigs[i] = obj("key_id", s.KeyID)
		}
	}
	pkg := func(p Package) *ast.Term {
		return obj("name", p.Name, "version", p.Version, "type", p.Type, "licenses", strs(nonNil(p.Licenses)))
	}
	pkgs := make([]*ast.Term, len(in.SBOM.Packages))
	for i, p := range in.SBOM.Packages {
		pkgs[i] = pkg(p)
	}
	prov := ast.NullTerm()
	if p := in.Provenance; p != nil {
		kv := []any{"builder_id", p.BuilderID, "build_type", p.BuildType, "resolved_dependencies", strs(nonNil(p.ResolvedDependencies))}
		if p.StartedOn != "" {
			kv = append(kv, "started_on", p.StartedOn)
		}
		if p.FinishedOn != "" {
			kv = append(kv, "finished_on", p.FinishedOn)
		}
		prov = obj(kv...)
	}
	receipts := make([]*ast.Term, len(in.Receipts))
	for i, r := range in.Receipts {
		receipts[i] = obj("target", r.Target, "repository", r.Repository, "environment", r.Environment, "digest", r.Digest, "time", r.Time, "key_id", r.KeyID, "result", r.Result, "action", r.Action)
	}
	doc := obj(
		"image", obj("repository", in.Image.Repository, "digest", in.Image.Digest, "reference", in.Image.Reference,
			"platforms", strs(nonNil(in.Image.Platforms))),
		"target", in.Target,
		"environment", in.Environment,
		"source_environment", in.SourceEnvironment,
		"previous_environment", in.PreviousEnvironment,
		"accept_direct", in.AcceptDirect,
		"signatures", ast.ArrayTerm(sigs...),
		"sbom", obj("present", in.SBOM.Present, "packages", ast.ArrayTerm(pkgs...),
			"by_license", index(in.SBOM.ByLicense), "by_name", index(in.SBOM.ByName), "platforms", platforms(in.SBOM.Platforms, pkg)),
		"provenance", prov,
		"receipts", ast.ArrayTerm(receipts...),
		"config", obj("allowed_builders", strs(nonNil(in.Config.AllowedBuilders)),
			"license_denylist", strs(nonNil(in.Config.LicenseDenylist)),
			"package_denylist", strs(nonNil(in.Config.PackageDenylist)),
			"license_allowlist", strs(nonNil(in.Config.LicenseAllowlist)),
			"package_allowlist", strs(nonNil(in.Config.PackageAllowlist)),
			"tests", strs(nonNil(in.Config.Tests))),
		"revoked", in.Revoked.term(),
		"age_days", intOrNull(in.AgeDays),
		"max_age_days", in.MaxAgeDays,
		"sbom_delta", in.SBOMDelta.term(pkg),
		"tests", testsTerm(in.Tests),
		"tested_in", in.TestedIn.term(),
		"vulnerabilities", in.Vulnerabilities.term(),
	)
	return doc.Value, nil
}

// strs is a string array term.
func strs(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, x := range ss {
		ts[i] = ast.StringTerm(x)
	}
	return ast.ArrayTerm(ts...)
}

// obj is an object term of key, value pairs (values: string, bool or term).
func obj(kv ...any) *ast.Term {
	items := make([][2]*ast.Term, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		var v *ast.Term
		switch x := kv[i+1].(type) {
		case string:
			v = ast.StringTerm(x)
		case bool:
			v = ast.BooleanTerm(x)
		case int:
			v = ast.IntNumberTerm(x)
		case *ast.Term:
			v = x
		}
		items = append(items, [2]*ast.Term{ast.StringTerm(kv[i].(string)), v})
	}
	return ast.ObjectTerm(items...)
}

// platforms converts SBOM.Platforms; nil is null, as in JSON.
func platforms(m map[string][]Package, pkg func(Package) *ast.Term) *ast.Term {
	if m == nil {
		return ast.NullTerm()
	}
	items := make([][2]*ast.Term, 0, len(m))
	for k, ps := range m {
		ts := make([]*ast.Term, len(ps))
		for i, p := range ps {
			ts[i] = pkg(p)
		}
		items = append(items, [2]*ast.Term{ast.StringTerm(k), ast.ArrayTerm(ts...)})
	}
	return ast.ObjectTerm(items...)
}

func index(m map[string][]string) *ast.Term {
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		ts := make([]*ast.Term, len(v))
		for i, x := range v {
			ts[i] = ast.StringTerm(x)
		}
		items = append(items, [2]*ast.Term{ast.StringTerm(k), ast.ArrayTerm(ts...)})
	}
	return ast.ObjectTerm(items...)
}

// jsonDocument is the reference conversion, through JSON.
func (in Input) jsonDocument() (ast.Value, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return ast.ValueFromReader(bytes.NewReader(b))
}

// NewConfig returns the policy settings, with an empty list (never null)
// where a setting is unset.
func NewConfig(allowedBuilders, licenseDenylist, packageDenylist []string) Config {
	return Config{AllowedBuilders: nonNil(allowedBuilders), LicenseDenylist: nonNil(licenseDenylist), PackageDenylist: nonNil(packageDenylist),
		LicenseAllowlist: []string{}, PackageAllowlist: []string{}, Tests: []string{}}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
