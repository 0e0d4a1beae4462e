package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/imagetest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote/amis"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
	"github.com/bakeryhq/bakery/vuln"
)

// Entry is one verified receipt in an environment's history, with the test
// evidence its digest holds for the target (Tests) when it was read.
type Entry struct {
	policies.Receipt
	Target     string `json:"target"`
	Repository string `json:"repository"`
	Tests      []TestEvidence
	// Deleted is set on the events of a digest that bakery gc deleted:
	// they are read from the signed gc log, not from the digest.
	Deleted *Deleted
}

// Deleted says which gc run deleted a digest, when and why.
type Deleted struct {
	Time   string `json:"time"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	// State is the run's: done, or started (killed before it finished).
	State string `json:"state"`
}

// ActionDelete is the history event of a digest bakery gc deleted.
const ActionDelete = "gc delete"

// EntryJSON is an Entry as bakery's commands print it (history -o json,
// report.json): camelCase, where policies.Receipt keeps the policy input's
// snake_case (key_id).
type EntryJSON struct {
	Target      string `json:"target"`
	Repository  string `json:"repository"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Time        string `json:"time"`
	KeyID       string `json:"keyId"`
	Result      string `json:"result"`
	Action      string `json:"action"`
	Replaced    string `json:"replaced,omitempty"`
	From        string `json:"from,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Actor       string `json:"actor,omitempty"`
	// Tests is the digest's test evidence (Tests), as status shows it.
	Tests []TestEvidence `json:"tests"`
	// Deleted: bakery gc deleted the digest (its events come from the gc log).
	Deleted *Deleted `json:"deleted,omitempty"`
}

// JSON is e as bakery's commands print it.
func (e Entry) JSON() EntryJSON {
	r := e.Receipt
	tests := e.Tests
	if tests == nil {
		tests = []TestEvidence{}
	}
	return EntryJSON{Target: e.Target, Repository: e.Repository, Environment: r.Environment, Digest: r.Digest, Time: r.Time,
		KeyID: r.KeyID, Result: r.Result, Action: r.Action, Replaced: r.Replaced, From: r.From, Reason: r.Reason, Actor: r.Actor,
		Tests: tests, Deleted: e.Deleted}
}

// MarshalJSON writes e as EntryJSON.
func (e Entry) MarshalJSON() ([]byte, error) { return json.Marshal(e.JSON()) }

// UnmarshalJSON reads what MarshalJSON writes (report.json read back).
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j EntryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{Target: j.Target, Repository: j.Repository, Tests: j.Tests, Deleted: j.Deleted, Receipt: policies.Receipt{Target: j.Target, Repository: j.Repository,
		Environment: j.Environment, Digest: j.Digest, Time: j.Time, KeyID: j.KeyID, Result: j.Result, Action: j.Action,
		Replaced: j.Replaced, From: j.From, Reason: j.Reason, Actor: j.Actor}}
	return nil
}

// History reads, from the registry alone, every verified receipt recorded for
// target in env: the cosign attestation tags of the environment's repository
// name each digest that has attestations; their verified receipts for env are
// the history, oldest first, each with its digest's test evidence.
func History(ctx context.Context, verifier *attest.Verifier, target string, env *config.Environment) ([]Entry, error) {
	return history(ctx, verifier, target, env, nil, false)
}

// HistoryWithTests is History with each entry's test evidence (Tests), for
// what shows it (bakery history, the report): reading it costs each digest
// its test results and, when it has some, its index.
func HistoryWithTests(ctx context.Context, verifier *attest.Verifier, target string, env *config.Environment) ([]Entry, error) {
	return history(ctx, verifier, target, env, nil, true)
}

// history is History, reusing the verification reports the caller already
// has (by digest) instead of verifying those digests again.
func history(ctx context.Context, verifier *attest.Verifier, target string, env *config.Environment, known map[string]*attest.Report, withTests bool) ([]Entry, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	repo := tag.Context()
	bind := receipt.Binding{Target: target, Repositories: map[string]string{env.Name: repo.String()}}
	digests, err := AttestedDigests(ctx, repo)
	if err != nil {
		return nil, err
	}
	reps := make([]*attest.Report, len(digests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(historyParallel)
	for i, d := range digests {
		if rep, ok := known[d.DigestStr()]; ok {
			reps[i] = rep
			continue
		}
		g.Go(func() error {
			want := []string{receipt.PredicateVSA}
			if withTests {
				want = append(want, imagetest.PredicateType)
			}
			rep, err := attested(gctx, d, verifier, want...)
			if failure.ClassOf(err) == failure.Unavailable {
				return err
			}
			reps[i] = rep // nil when not verifiable: not part of the history
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Entry
	for _, rep := range reps {
		if rep == nil {
			continue
		}
		var tests []TestEvidence
		if withTests {
			tests = Tests(rep, target)
		}
		for _, r := range receipt.Read(rep, bind) {
			if r.Environment == env.Name {
				out = append(out, Entry{Receipt: r, Target: target, Repository: repo.String(), Tests: tests})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time }) // fixed-width times
	return out, nil
}

// DeletedHistory is the history of the digests bakery gc deleted from
// target's repository in env, from its signed gc log: each receipt the
// digest held there when it was deleted, and its deletion, all marked
// Deleted. A log that no trusted key signed counts for nothing (err says
// why, with no entries).
func DeletedHistory(ctx context.Context, verifier *attest.Verifier, target string, env *config.Environment) ([]Entry, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	repo := tag.Context()
	log, err := record.Read(ctx, repo, verifier.Keys())
	if err != nil {
		return nil, err
	}
	last := map[string]int{} // a digest a resumed run deleted again: its last run
	for i, run := range log.Runs {
		for _, d := range run.Deleted {
			last[d.Digest] = i
		}
	}
	var out []Entry
	for i, run := range log.Runs {
		for _, d := range run.Deleted {
			if d.Kind == record.KindAttachments || d.Kind == record.KindOrphan || d.Kind == record.KindPlatform || last[d.Digest] != i {
				continue
			}
			del := &Deleted{Time: run.Time, By: run.By, Reason: d.Reason, State: run.State}
			for _, r := range d.Receipts {
				out = append(out, Entry{Receipt: r.Policy(target, repo.String(), d.Digest), Target: target, Repository: repo.String(), Deleted: del})
			}
			out = append(out, Entry{Target: target, Repository: repo.String(), Deleted: del, Receipt: policies.Receipt{
				Target: target, Repository: repo.String(), Environment: env.Name, Digest: d.Digest, Time: run.Time,
				Action: ActionDelete, Result: "-", Reason: d.Reason, Actor: run.By}})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out, nil
}

// historyParallel bounds the digests whose receipts History reads at once.
const historyParallel = 8

// receipts reads only d's receipts, as a report that receipt.Read takes: a
// receipt needs no SBOM, no test result and no index, so none is fetched.
func receipts(ctx context.Context, d name.Digest, verifier *attest.Verifier) (*attest.Report, error) {
	return attested(ctx, d, verifier, receipt.PredicateVSA)
}

// attested reads only d's verified attestations of the predicate types
// want (attest.Attestations), as a report: no SBOM is fetched unless
// asked for. The platforms that bind a test result are read when there is
// one (test results are left out when they cannot be).
func attested(ctx context.Context, d name.Digest, verifier *attest.Verifier, want ...string) (*attest.Report, error) {
	atts, _, err := verifier.Attestations(ctx, d, want)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	rep := &attest.Report{Reference: d.String(), Digest: h, Attestations: atts}
	if slices.ContainsFunc(atts, func(a attest.AttestationInfo) bool { return a.PredicateType == imagetest.PredicateType }) {
		if rep.Platforms, err = platformImages(ctx, d); err != nil {
			if failure.ClassOf(err) == failure.Unavailable {
				return nil, err
			}
			// Unbound, a result would count for any platform: none does.
			rep.Attestations = slices.DeleteFunc(rep.Attestations, func(a attest.AttestationInfo) bool { return a.PredicateType == imagetest.PredicateType })
		}
	}
	return rep, nil
}

// platformImages are the platform images of an index at d, as a verified
// report has them (none for a single image).
func platformImages(ctx context.Context, d name.Digest) ([]attest.PlatformImage, error) {
	plats, err := attest.Platforms(ctx, d)
	if err != nil {
		return nil, err
	}
	var out []attest.PlatformImage
	for _, p := range plats {
		if p.Ref.DigestStr() != d.DigestStr() {
			out = append(out, attest.PlatformImage{Platform: p.Platform, Digest: p.Ref.DigestStr()})
		}
	}
	return out, nil
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
	AMIs map[string]string `json:"amis,omitempty"`
	// Rollout is, for a machine image whose environment names launch
	// templates for the target (aws.rollout), what each template's default
	// version runs and each group's newest instance refresh; filled in by
	// RolloutStatus, which asks AWS.
	Rollout  []amis.Deployment `json:"rollout,omitempty"`
	Time     string            `json:"time,omitempty"`
	Signer   string            `json:"keyId,omitempty"`
	Action   string            `json:"action,omitempty"`
	Verified bool              `json:"verified"`
	// Receipt says the digest holds a verified receipt for this target in
	// this environment (Time, Signer and Action are the newest one's).
	Receipt bool `json:"receipt"`
	// Drift says the tag does not point where bakery last put it: at a
	// digest without this environment's receipt, or at another digest than
	// the newest receipt in the environment's history (the tag was moved by
	// hand). Expected names that digest.
	Drift    bool   `json:"drift"`
	Expected string `json:"expected,omitempty"`
	// Revoked is the revocation in force for the digest, if any; RollbackTo
	// is then the newest receipted digest of the environment that is not
	// revoked ("" when there is none: promote a fix).
	// Revoked.Cause names the revoked base when the digest is revoked
	// through its lineage (revoke.Lineage). Verified is false then: the
	// Verdict of the digest (Assess), as every command says it.
	Revoked    *revoke.Entry `json:"revocation,omitempty"`
	RollbackTo string        `json:"rollbackTo,omitempty"`
	// Problem says in one line why Verified is false.
	Problem string `json:"problem,omitempty"`
	// Suites are the suites the target configures (none: "-" in text).
	Suites []string `json:"suites,omitempty"`
	// Tests is the digest's test evidence for the target (Tests): the
	// newest result per suite, platform and environment.
	Tests []TestEvidence `json:"tests,omitempty"`
	// Vulnerabilities is the digest's vulnerability evidence for the target
	// (vuln.Suppressions.Evidence, judged with bakery.yaml's VEX and
	// waivers); commands print it in short (vuln.Summary).
	Vulnerabilities []vuln.Evidence `json:"-"`
	// Unreachable says why this environment's registry could not be read:
	// nothing else about it is known (the other environments still are).
	Unreachable string `json:"unreachable,omitempty"`
	// History is the environment's verified history that drift was
	// decided on, oldest first (non-nil once read), for callers that show
	// it (bakery report) without reading it again.
	History []Entry `json:"-"`
}

// Healthy is a status with a receipted, verified, unrevoked digest and no drift.
func (s Status) Healthy() bool {
	return s.Digest != "" && s.Verified && s.Receipt && !s.Drift && s.Revoked == nil
}

// CurrentStatus reads, from the registry alone, the digest each environment's
// tag points at for every target, and the verified receipt that put it there.
// The revocation list is read once; targets and environments are read
// concurrently, at most StatusParallel at once, and listed in name order.
func CurrentStatus(ctx context.Context, cfg *config.Config, verifier *attest.Verifier) ([]Status, error) {
	lin, err := revoke.LoadLineage(ctx, cfg, verifier)
	if err != nil {
		return nil, err
	}
	sup := vuln.NewSuppressions(ctx, cfg, verifier.Keys())
	targets, envs := cfg.TargetNames(), cfg.Environments
	out := make([]Status, len(targets)*len(envs))
	var (
		mu   sync.Mutex
		down = map[string]error{} // environment -> why it could not be read
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(StatusParallel)
	for ti, target := range targets {
		for ei := range envs {
			g.Go(func() error {
				st, err := statusOf(gctx, cfg, verifier, lin, sup, target, envs[ei].Name)
				if failure.ClassOf(err) == failure.Unavailable {
					// One registry down must not blank the others.
					st = Status{Target: target, Environment: envs[ei].Name, Unreachable: problemOf(err)}
					mu.Lock()
					down[envs[ei].Name] = err
					mu.Unlock()
					err = nil
				}
				out[ti*len(envs)+ei] = st
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, Unreachable(cfg, down)
}

// Unreachable is the error of a partial answer: failure.Unavailable (exit
// 6) naming each environment in down (by name and repository), nil when
// down is empty.
func Unreachable(cfg *config.Config, down map[string]error) error {
	if len(down) == 0 {
		return nil
	}
	var names []string
	var first error
	for _, e := range cfg.Environments {
		if err, ok := down[e.Name]; ok {
			names = append(names, e.Name+" ("+e.Repository+")")
			if first == nil {
				first = err
			}
		}
	}
	return failure.New(failure.Unavailable, "environment "+strings.Join(names, ", "),
		fmt.Errorf("unreachable: %w", first),
		"check that registry, then run the command again")
}

// StatusParallel bounds the target × environment reads of CurrentStatus in
// flight (they share one transport and its connections per registry).
const StatusParallel = 8

// StatusOf is the Status of one target in one environment. A tag that is not
// there gives a Status with no Digest.
func StatusOf(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, target, envName string) (Status, error) {
	lin, err := revoke.LoadLineage(ctx, cfg, verifier)
	if err != nil {
		return Status{}, err
	}
	return statusOf(ctx, cfg, verifier, lin, vuln.NewSuppressions(ctx, cfg, verifier.Keys()), target, envName)
}

func statusOf(ctx context.Context, cfg *config.Config, verifier *attest.Verifier, lin *revoke.Lineage, sup *vuln.Suppressions, target, envName string) (Status, error) {
	if _, err := cfg.LookupTarget(target); err != nil {
		return Status{}, err
	}
	env, _, err := cfg.LookupEnvironment(envName)
	if err != nil {
		return Status{}, err
	}
	st := Status{Target: target, Environment: env.Name, Suites: Suites(cfg, target)}
	tag, err := env.Locate(target)
	if err != nil {
		return st, err
	}
	d, err := registry.Resolve(ctx, tag)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return st, err
		}
		return st, nil // nothing there
	}
	st.Digest, st.Reference = d.DigestStr(), d.String()
	rep, verr := verifier.Verify(ctx, d)
	if rep == nil {
		return st, verr
	}
	if st.Kind, st.AMIs, err = kindOf(ctx, d); err != nil {
		return st, err
	}
	bind := receipt.Bind(cfg, target)
	for _, r := range receipt.Read(rep, bind) {
		if r.Environment == env.Name && r.Result == receipt.Passed {
			st.Time, st.Signer, st.Action, st.Receipt = r.Time, r.KeyID, r.Action, true
		}
	}
	if amis := receipt.AMIs(rep, bind, env.Name); len(amis) > 0 {
		st.AMIs = amis
	}
	st.Tests = Tests(rep, target)
	st.Vulnerabilities, _ = sup.Evidence(rep, target, time.Now())
	v, err := Assess(ctx, lin, rep, verr)
	if err != nil {
		return st, err
	}
	st.Verified, st.Revoked, st.Problem = v.Verified, v.Revocation, v.Problem
	return st, drift(ctx, verifier, lin.Set(), target, env, &st, rep)
}

// drift sets st.Drift (and Expected): the tag must point at the digest of the
// newest receipt in env's history. For a revoked digest it also finds the
// newest receipted digest that is not revoked (RollbackTo). rep is the
// current digest's report, which the history reuses.
func drift(ctx context.Context, verifier *attest.Verifier, revs *revoke.Set, target string, env *config.Environment, st *Status, rep *attest.Report) error {
	hist, err := history(ctx, verifier, target, env, map[string]*attest.Report{st.Digest: rep}, false)
	if err != nil {
		return err
	}
	st.History = append([]Entry{}, hist...)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Result == receipt.Passed {
			st.Expected = hist[i].Digest
			break
		}
	}
	st.Drift = !st.Receipt || st.Expected != st.Digest
	if st.Revoked != nil {
		for i := len(hist) - 1; i >= 0 && st.RollbackTo == ""; i-- {
			if _, revoked := revs.Revoked(hist[i].Digest, time.Now()); hist[i].Result == receipt.Passed && !revoked && hist[i].Digest != st.Digest {
				st.RollbackTo = hist[i].Digest
			}
		}
	}
	return nil
}

// kindOf says whether d is a container image or a machine-image record, and
// for a record the AMIs it was built as.
func kindOf(ctx context.Context, d name.Digest) (string, map[string]string, error) {
	rec, err := machineimage.Read(ctx, d)
	switch {
	case err == nil:
		return string(builders.MachineImage), rec.AMIs, nil
	case errors.Is(err, machineimage.ErrNotRecord):
		return string(builders.Container), nil, nil
	default:
		return "", nil, err
	}
}
