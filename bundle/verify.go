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
	Receipts []policies.Receipt `json:"receipts"`
	// Policies says whose policies decided: "bundle" (their digest is the
	// one the receipt records) or "local".
	Policies   string             `json:"policies"`
	PolicyData string             `json:"policyData"`
	Decision   *policies.Decision `json:"decision,omitempty"`
	// Revoked is the entry of the bundle's revocation list that revokes the
	// digest; IgnoredRevocations are lists that did not verify.
	Revoked            *revoke.Entry `json:"revoked,omitempty"`
	IgnoredRevocations []string      `json:"ignoredRevocations,omitempty"`
	// Keys are the keys the bundle carries and whether this site trusts them.
	Keys []Key `json:"keys"`
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
	rep, err := attest.Verify(sctx, ref, opts.Keys, attest.RequiredPredicates)
	res.Report = rep
	if rep != nil {
		rep.Reference = m.Source + "@" + m.Digest // where it came from, not where it was served
	}
	if err != nil {
		return res, failure.New(failure.ClassOf(err), "bundle "+b.Path, err, "do not import it")
	}
	bind := receipt.Binding{Target: m.Target, Repositories: m.Repositories}
	res.Receipts = receipt.Read(rep, bind)
	vsa, ok := receipt.Newest(rep, bind, res.Environment)
	if !ok {
		return res, failure.New(failure.Verify, "bundle "+b.Path, fmt.Errorf("no verified receipt for %s in %s for %s", m.Target, res.Environment, m.Digest),
			"the bundle does not prove this digest was promoted there")
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
		msgs := make([]string, len(dec.Violations))
		for i, v := range dec.Violations {
			msgs[i] = v.Policy + ": " + v.Message
		}
		return res, failure.New(failure.Policy, "bundle "+b.Path, fmt.Errorf("%s's policies deny it: %s", res.Environment, strings.Join(msgs, "; ")), "do not import it")
	}
	return res, nil
}

// checkRevoked reads the revocation list the bundle carries (as it was at
// export, verified with the verifier's keys as revoke.Load does everywhere;
// a forged one is listed and ignored) and fails a revoked digest.
func checkRevoked(sctx context.Context, b *Bundle, opts VerifyOptions, res *Result) error {
	cfg := &config.Config{Environments: []config.Environment{{Name: b.Manifest.Environment, Repository: Repository}}}
	revs, err := revoke.Load(sctx, cfg, opts.Keys)
	if err != nil {
		return failure.New(failure.ClassOf(err), "bundle "+b.Path, err, "")
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
	return failure.New(failure.Verify, "bundle "+b.Path, fmt.Errorf("%s was revoked at %s by %s: %s", b.Manifest.Digest, e.EffectiveAt, e.By, e.Reason),
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
