package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// VerifyOptions say whom to trust and what to decide.
type VerifyOptions struct {
	// Keys are the verifier's own trusted keys: the only source of trust.
	Keys []attest.TrustedKey
	// Env is the environment whose receipt and policies are checked;
	// default the one the bundle was exported from.
	Env string
	// At is the time revocations are judged at (a scheduled one takes
	// effect at its time); default now.
	At time.Time
	// Config is the site's config, nil when there is none: its policy.dirs
	// and policy data decide when the bundle's policies are not the ones
	// the receipt names.
	Config *config.Config
	// Site, when set, is the site's gate (its config, trusted keys and
	// policies): then Env's decision is exactly the one `bakery promote
	// --to Env` makes at this site (promote.Judge), with the bundle's
	// receipts as evidence of the environments before it and the bundle's
	// revocation list counted together with the site's own. The bundle's
	// policies are then evidence to show, never the decision.
	Site *promote.Promoter
	// Offline, with Site, reads nothing from the site's registry (verify
	// --bundle): the site's revocation lists, the bases' provenance beyond
	// the digest's own and sbom_delta are listed in Result.Unchecked.
	Offline bool
}

// Result is what Verify found.
type Result struct {
	Bundle      string         `json:"bundle"`
	Target      string         `json:"target"`
	Environment string         `json:"environment"`
	Digest      string         `json:"digest"`
	Kind        string         `json:"kind"`
	Source      string         `json:"source"`
	SignedBy    string         `json:"manifestSignedBy"`
	Report      *attest.Report `json:"report"`
	// Receipts are the verified receipts bound to the target, oldest first.
	Receipts Receipts `json:"receipts"`
	// Policies says whose policies decided: "site" (the site's gate for
	// Environment, as promote decides), "bundle" (no site config; their
	// digest is the one the receipt records) or "local".
	Policies   string             `json:"policies"`
	PolicyData string             `json:"policyData"`
	Decision   *policies.Decision `json:"decision,omitempty"`
	// Revoked is the entry of the bundle's revocation list that revokes the
	// digest; IgnoredRevocations are lists that did not verify.
	Revoked            *revoke.Entry `json:"revocation,omitempty"`
	IgnoredRevocations []string      `json:"ignoredRevocations,omitempty"`
	// Keys are the keys the bundle carries and whether this site trusts them.
	Keys []Key `json:"keys"`
	// Unchecked names what an offline site decision could not check
	// without the site's registry; import checks them.
	Unchecked []string `json:"unchecked,omitempty"`
	// SiteReceipts are the receipts for the environment before
	// Environment that the site's own registry holds for the digest
	// (import only).
	SiteReceipts Receipts `json:"siteReceipts,omitempty"`
}

// Key is a key the bundle carries.
type Key struct {
	KeyID   string `json:"keyId"`
	Trusted bool   `json:"trusted"`
}

// Verify checks an opened bundle with no network: signatures and
// attestations per platform (attest.Verify on the layout served in-process),
// a verified receipt binding the target, the environment and the digest, and
// the environment's policy decision. Failures are failure.Verify (exit 4), a
// denial failure.Policy (exit 5); the Result is returned with either.
func Verify(ctx context.Context, b *Bundle, opts VerifyOptions) (*Result, error) {
	m := b.Manifest
	res := &Result{Bundle: b.Path, Target: m.Target, Environment: m.Environment, Digest: m.Digest, Kind: m.Kind, Source: m.Source, SignedBy: b.SignedBy}
	if opts.Env != "" {
		res.Environment = opts.Env
	}
	for _, f := range m.Files {
		if f.Role == RoleKey {
			res.Keys = append(res.Keys, Key{KeyID: f.KeyID, Trusted: slices.ContainsFunc(opts.Keys, func(k attest.TrustedKey) bool { return k.ID == f.KeyID })})
		}
	}
	sctx, ref, err := b.Serve(ctx, true)
	if err != nil {
		return res, err
	}
	rep, err := attest.Trusting(opts.Keys).Verify(sctx, ref)
	res.Report = rep
	if rep != nil {
		rep.Reference = m.Source + "@" + m.Digest // where it came from, not where it was served
	}
	if err != nil {
		return res, failure.New(failure.ClassOf(err), "bundle "+b.Path, err, "do not import it")
	}
	bind := receipt.Binding{Target: m.Target, Repositories: m.Repositories}
	res.Receipts = receipt.Read(rep, bind)
	// The bundle proves what it claims: a receipt for the environment it
	// was exported from (without a site gate, for the one decided on).
	claim := m.Environment
	if opts.Site == nil {
		claim = res.Environment
	}
	vsa, ok := receipt.Newest(rep, bind, claim)
	if !ok {
		return res, failure.New(failure.Verify, "bundle "+b.Path, fmt.Errorf("no verified receipt for %s in %s for %s", m.Target, claim, m.Digest),
			"the bundle does not prove this digest was promoted there")
	}
	if opts.Site != nil {
		return res, siteDecision(ctx, sctx, b, opts, res, rep)
	}
	if err := checkRevoked(sctx, b, opts, res); err != nil {
		return res, err
	}
	dec, err := decide(ctx, b, opts, res, rep, vsa)
	res.Decision = dec
	if err != nil {
		return res, err
	}
	if !dec.Allowed {
		return res, deniedBy(b, res, dec)
	}
	return res, nil
}

// siteDecision is the decision of the site's gate for res.Environment: what
// `bakery promote --to ENV` would decide at the site, on what verified in
// the bundle, with the bundle's receipts (bound to the source repositories
// it records) and, online, those the site's previous environment holds for
// the digest, and with the bundle's revocation list and, online, the site's.
func siteDecision(ctx, sctx context.Context, b *Bundle, opts VerifyOptions, res *Result, rep *attest.Report) error {
	m := b.Manifest
	cfg := opts.Config
	env, idx, err := cfg.LookupEnvironment(res.Environment)
	if err != nil {
		return err
	}
	if _, err := cfg.LookupTarget(m.Target); err != nil {
		return err // the site's status, history and verify --env know it by name
	}
	bundleRevs, err := bundleRevocations(sctx, b, opts.Keys)
	if err != nil {
		return err
	}
	res.IgnoredRevocations = bundleRevs.Ignored
	evidence := slices.Clone(res.Receipts)
	if idx > 0 && !opts.Offline {
		prev := &cfg.Environments[idx-1]
		if res.SiteReceipts, err = promote.SiteReceipts(ctx, attest.Trusting(opts.Keys), cfg, m.Target, prev, m.Digest); err != nil {
			return err
		}
		evidence = append(evidence, res.SiteReceipts...)
	}
	if idx > 0 && opts.Offline {
		res.Unchecked = append(res.Unchecked, "receipts the site's "+cfg.Environments[idx-1].Name+" holds for the digest (only the bundle's were read)")
	}
	j, err := opts.Site.Judge(ctx, rep, promote.Judgement{Target: m.Target, From: m.Environment, Env: env,
		Receipts: evidence, Revocations: bundleRevs, Offline: opts.Offline})
	if err != nil {
		return failure.New(failure.ClassOf(err), "bundle "+b.Path, err, "do not import it")
	}
	res.Policies, res.PolicyData = "site", "site"
	res.Decision = &j.Decision
	res.Unchecked = append(res.Unchecked, j.Unchecked...)
	if j.Revoked {
		e := j.Revocation
		res.Revoked = &e
		if opts.Offline { // verify --bundle, like verify: a revoked digest fails verification
			return failure.New(failure.Verify, "bundle "+b.Path, fmt.Errorf("%s is %s", m.Digest, e.Describe()), "do not import it")
		}
	}
	if !j.Decision.Allowed {
		return deniedBy(b, res, &j.Decision)
	}
	return nil
}

// deniedBy is the denial of dec for the bundle, failure.Policy (exit 5).
func deniedBy(b *Bundle, res *Result, dec *policies.Decision) error {
	msgs := make([]string, len(dec.Violations))
	for i, v := range dec.Violations {
		msgs[i] = v.Policy + ": " + v.Message
	}
	return failure.New(failure.Policy, "bundle "+b.Path, fmt.Errorf("%s's policies deny it: %s", res.Environment, strings.Join(msgs, "; ")), "do not import it")
}

// bundleRevocations is the revocation list the bundle carries, verified with
// keys as revoke.Load does everywhere (a forged one is listed and ignored).
func bundleRevocations(sctx context.Context, b *Bundle, keys []attest.TrustedKey) (*revoke.Set, error) {
	cfg := &config.Config{Environments: []config.Environment{{Name: b.Manifest.Environment, Repository: Repository}}}
	revs, err := revoke.Load(sctx, cfg, attest.Trusting(keys))
	if err != nil {
		return nil, failure.New(failure.ClassOf(err), "bundle "+b.Path, err, "")
	}
	return revs, nil
}

// checkRevoked reads the revocation list the bundle carries (as it was at
// export, verified with the verifier's keys as revoke.Load does everywhere;
// a forged one is listed and ignored) and fails a revoked digest.
func checkRevoked(sctx context.Context, b *Bundle, opts VerifyOptions, res *Result) error {
	revs, err := bundleRevocations(sctx, b, opts.Keys)
	if err != nil {
		return err
	}
	res.IgnoredRevocations = revs.Ignored
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	e, revoked := revs.Revoked(b.Manifest.Digest, at)
	if !revoked {
		return nil
	}
	res.Revoked = &e
	return failure.New(failure.Verify, "bundle "+b.Path, fmt.Errorf("%s is %s", b.Manifest.Digest, e.Describe()),
		"do not import it: the source revoked it before exporting")
}

// decide evaluates the environment's policies, named by the verified
// receipt, on what verified. The bundle's policy files and data decide when
// their digest is the one the receipt records; otherwise the site's
// (shipped plus policy.dirs, and the config's policy data; without a config,
// the bundle's data, which its signed manifest vouches for).
func decide(ctx context.Context, b *Bundle, opts VerifyOptions, res *Result, rep *attest.Report, vsa receipt.VSA) (*policies.Decision, error) {
	data, err := b.policyData()
	if err != nil {
		return nil, err
	}
	modules, err := b.File(RolePolicy)
	if err != nil {
		return nil, err
	}
	texts := map[string]string{}
	for n, body := range modules {
		texts[n] = string(body)
	}
	engine, err := policies.CompileModules(ctx, texts)
	recorded := "sha256:" + vsa.Policy.Digest["sha256"]
	res.Policies, res.PolicyData = "bundle", "bundle"
	if err != nil || engine.Digest() != recorded {
		var dirs []string
		if opts.Config != nil {
			dirs = opts.Config.Policy.Dirs
			data.Policy = opts.Config.Policy
			res.PolicyData = "local"
		}
		if engine, err = policies.Compile(ctx, dirs); err != nil {
			return nil, err
		}
		res.Policies = "local"
	}
	cfg := &config.Config{Policy: data.Policy}
	for _, e := range data.Environments {
		cfg.Environments = append(cfg.Environments, config.Environment{Name: e.Name, Policies: e.Policies, AcceptDirect: e.AcceptDirect, MaxAgeDays: e.MaxAgeDays})
	}
	env, _, ok := cfg.Environment(res.Environment)
	if !ok {
		cfg.Environments = append(cfg.Environments, config.Environment{Name: res.Environment})
		env = &cfg.Environments[len(cfg.Environments)-1]
	}
	env.Policies = vsa.Bakery.Policies
	in, err := promote.Input(rep, b.Manifest.Target, vsa.Bakery.From, cfg, env)
	if err != nil {
		return nil, err
	}
	in.Image = policies.Image{Repository: b.Manifest.Source, Digest: b.Manifest.Digest, Reference: b.Manifest.Source + "@" + b.Manifest.Digest}
	in.Receipts = res.Receipts
	if in.Receipts == nil {
		in.Receipts = []policies.Receipt{}
	}
	names := env.Policies
	if !slices.Contains(names, policies.NotRevoked) {
		names = append([]string{policies.NotRevoked}, names...)
	}
	dec, err := engine.Evaluate(ctx, names, in)
	return &dec, err
}

func (b *Bundle) policyData() (PolicyData, error) {
	var data PolicyData
	files, err := b.File(RolePolicyData)
	if err != nil {
		return data, err
	}
	for n, body := range files {
		if err := json.Unmarshal(body, &data); err != nil {
			return data, b.fail(n, fmt.Errorf("does not decode: %w", err))
		}
	}
	return data, nil
}

// Receipts are receipts as bakery's commands print them: camelCase, as
// history -o json (promote.EntryJSON); policies.Receipt keeps the policy
// input's snake_case.
type Receipts []policies.Receipt

// MarshalJSON writes each receipt as promote.EntryJSON.
func (rs Receipts) MarshalJSON() ([]byte, error) {
	out := make([]promote.EntryJSON, len(rs))
	for i, r := range rs {
		out[i] = promote.Entry{Receipt: r, Target: r.Target, Repository: r.Repository}.JSON()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (rs *Receipts) UnmarshalJSON(b []byte) error {
	var es []promote.Entry
	if err := json.Unmarshal(b, &es); err != nil {
		return err
	}
	*rs = make(Receipts, len(es))
	for i, e := range es {
		(*rs)[i] = e.Receipt
	}
	return nil
}
