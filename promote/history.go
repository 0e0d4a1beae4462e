package promote

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/builders/machineimage"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/policies"
)

// Entry is one verified receipt in an environment's history.
type Entry struct {
	policies.Receipt
	Target     string `json:"target"`
	Repository string `json:"repository"`
}

// History reads, from the registry alone, every verified receipt recorded for
// target in env: the cosign attestation tags of the environment's repository
// name each digest that has attestations; their verified receipts for env are
// the history, oldest first.
func History(ctx context.Context, cfg *config.Config, keys []attest.TrustedKey, target string, env *config.Environment) ([]Entry, error) {
	repo, err := env.RepositoryFor(target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	tags, err := remote.List(repo, registry.Options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, registry.Classify(repo.String(), err)
	}
	var out []Entry
	for _, t := range tags {
		hex, ok := strings.CutSuffix(t, ".att")
		if !ok || !strings.HasPrefix(hex, "sha256-") {
			continue
		}
		d := repo.Digest("sha256:" + strings.TrimPrefix(hex, "sha256-"))
		rep, err := attest.Verify(ctx, d, keys, nil)
		if rep == nil {
			if failure.ClassOf(err) == failure.Unavailable {
				return nil, err
			}
			continue // not verifiable: not part of the history
		}
		for _, r := range Receipts(rep) {
			if r.Environment == env.Name {
				out = append(out, Entry{Receipt: r, Target: target, Repository: repo.String()})
			}
		}
	}
	sortEntries(out)
	return out, nil
}

func sortEntries(e []Entry) {
	sort.SliceStable(e, func(i, j int) bool { return e[i].Time < e[j].Time })
}

// Status is what one environment runs for one target.
type Status struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	// Kind is container or machine-image.
	Kind      string `json:"kind,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Reference string `json:"reference,omitempty"`
	// AMIs are a machine image's AMI ids per region in this environment:
	// the ones its receipt records, else the ones it was built as.
	AMIs     map[string]string `json:"amis,omitempty"`
	Time     string            `json:"time,omitempty"`
	Signer   string            `json:"signer,omitempty"`
	Action   string            `json:"action,omitempty"`
	Verified bool              `json:"verified"`
}

// CurrentStatus reads, from the registry alone, the digest each environment's
// tag points at for every target, and the verified receipt that put it there.
func CurrentStatus(ctx context.Context, cfg *config.Config, keys []attest.TrustedKey) ([]Status, error) {
	var out []Status
	for _, target := range cfg.TargetNames() {
		for i := range cfg.Environments {
			st, err := StatusOf(ctx, cfg, keys, target, cfg.Environments[i].Name)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// StatusOf is the Status of one target in one environment. A tag that is not
// there gives a Status with no Digest.
func StatusOf(ctx context.Context, cfg *config.Config, keys []attest.TrustedKey, target, envName string) (Status, error) {
	if _, err := cfg.LookupTarget(target); err != nil {
		return Status{}, err
	}
	env, _, err := cfg.LookupEnvironment(envName)
	if err != nil {
		return Status{}, err
	}
	st := Status{Target: target, Environment: env.Name}
	repo, err := env.RepositoryFor(target)
	if err != nil {
		return st, failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	tag, err := env.RenderTag(target)
	if err != nil {
		return st, failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	d, err := resolveTag(ctx, repo.Tag(tag))
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return st, err
		}
		return st, nil // nothing there
	}
	st.Digest, st.Reference = d.DigestStr(), d.String()
	rep, verr := attest.Verify(ctx, d, keys, attest.RequiredPredicates)
	if rep == nil {
		return st, verr
	}
	st.Verified = verr == nil
	st.Kind = string(builders.Container)
	if rec, err := machineimage.Read(ctx, d); err == nil {
		st.Kind, st.AMIs = string(builders.MachineImage), rec.AMIs
	} else if !errors.Is(err, machineimage.ErrNotRecord) {
		return st, err
	}
	for _, r := range Receipts(rep) {
		if r.Environment == env.Name {
			st.Time, st.Signer, st.Action = r.Time, r.KeyID, r.Action
		}
	}
	if amis := ReceiptAMIs(rep, env.Name); len(amis) > 0 {
		st.AMIs = amis
	}
	return st, nil
}

// Rollback points env's tag back at a digest that holds a verified receipt
// for env: to, or by default the most recent such digest other than the
// current one. It verifies that digest and records a receipt of its own.
func (p *promoter) Rollback(ctx context.Context, target, envName, to string) (*Result, error) {
	cfg := p.opts.Config
	if _, err := cfg.LookupTarget(target); err != nil {
		return nil, err
	}
	env, _, err := cfg.LookupEnvironment(envName)
	if err != nil {
		return nil, err
	}
	repo, err := env.RepositoryFor(target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	tagName, err := env.RenderTag(target)
	if err != nil {
		return nil, failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	current := ""
	if d, err := resolveTag(ctx, repo.Tag(tagName)); err == nil {
		current = d.DigestStr()
	} else if failure.ClassOf(err) == failure.Unavailable {
		return nil, err
	}
	hist, err := History(ctx, cfg, p.opts.Keys, target, env)
	if err != nil {
		return nil, err
	}
	if to == "" {
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Digest != current && hist[i].Result == "PASSED" {
				to = hist[i].Digest
				break
			}
		}
		if to == "" {
			return nil, failure.New(failure.Config, fmt.Sprintf("rollback of %s in %s", target, env.Name),
				errors.New("no earlier digest holds a receipt for this environment"), "see bakery history")
		}
	} else if !hasReceipt(hist, to) {
		return nil, failure.New(failure.Policy, fmt.Sprintf("rollback of %s in %s to %s", target, env.Name, to),
			errors.New("that digest holds no receipt for this environment"), "roll back only to a digest that was promoted here; see bakery history")
	}
	dst, err := name.NewDigest(repo.String()+"@"+to, nameOpts(repo)...)
	if err != nil {
		return nil, failure.New(failure.Config, "--to "+to, err, "")
	}
	rep, err := attest.Verify(ctx, dst, p.opts.Keys, attest.RequiredPredicates)
	if err != nil {
		return nil, err
	}
	// A machine image goes back to the AMIs its earlier promotion made.
	res := &Result{Action: ActionRollback, Target: target, Environment: env.Name, Digest: to, Destination: dst.String(),
		Tag: repo.Tag(tagName).String(), AMIs: ReceiptAMIs(rep, env.Name)}
	if err := p.record(ctx, dst, ReceiptMetadata{Action: ActionRollback, Target: target, Environment: env.Name, From: current, AMIs: res.AMIs},
		p.opts.Policies.Digest(), rep.Attestations); err != nil {
		return res, err
	}
	res.Receipt = true
	if err := registry.Tag(ctx, dst, repo.Tag(tagName)); err != nil {
		return res, failure.New(failure.ClassOf(err), res.Tag, err, "")
	}
	return res, nil
}

// Rollbacker is implemented by the Promoter New returns.
type Rollbacker interface {
	Rollback(ctx context.Context, target, env, to string) (*Result, error)
}

func hasReceipt(hist []Entry, digest string) bool {
	for _, h := range hist {
		if h.Digest == digest && h.Result == "PASSED" {
			return true
		}
	}
	return false
}
