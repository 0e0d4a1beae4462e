// Package inventory answers "where does this package run?": it searches the
// verified SBOMs of the digest every environment's tag points at, for every
// target (and, asked to, every digest of each environment's receipted
// history), for packages by name and version range, license, package URL or
// CPE. Versions are ordered the way the package's own ecosystem orders them:
// dpkg's rules for deb packages, semantic versioning for the others.
//
// Only verified attestations are read: a digest is searched when it verifies
// in the environment's repository as bakery verify checks it (a trusted
// signature, and verified SPDX, CycloneDX and SLSA attestations for every
// platform). A digest an environment runs that does not verify is listed in
// Result.Skipped, never searched. Each repository and digest is verified
// once per run, and each platform's SBOM is decoded and searched once per run
// however many environments and targets run it.
package inventory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// DefaultParallel bounds the registry work of a Find in flight.
const DefaultParallel = 4

// Options says where Find looks and what it trusts.
type Options struct {
	Config *config.Config
	// Verifier is what is trusted: the keys, and the predicates required.
	Verifier *attest.Verifier
	// Parallel bounds how many tags, digests and SBOMs are read at once;
	// default DefaultParallel.
	Parallel int
}

// Match is one package found in the SBOM of one platform of a digest that an
// environment runs (or, with Query.History, ran).
type Match struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	// Kind is container or machine-image.
	Kind      string `json:"kind"`
	Digest    string `json:"digest"`
	Reference string `json:"reference"`
	// Current says the environment's tag points at Digest now; otherwise
	// Digest is an earlier one of the environment's receipted history.
	Current bool `json:"current"`
	// AMIs are a machine image's AMI ids per region in this environment.
	AMIs map[string]string `json:"amis,omitempty"`
	// Platform and PlatformDigest name the platform image whose SBOM lists
	// the package.
	Platform       string  `json:"platform"`
	PlatformDigest string  `json:"platformDigest"`
	Package        Package `json:"package"`
	// Revoked is the revocation in force for Digest, if any: it runs, but
	// every bakery refuses to promote or roll back to it.
	Revoked *revoke.Entry `json:"revocation,omitempty"`
	// Unreachable is set, alone with Target and Environment, on the entry
	// of Result.Unreachable for an environment whose registry could not be
	// read: why. Nothing it runs was searched.
	Unreachable string `json:"unreachable,omitempty"`

	envIndex int
}

// Skipped is a digest an environment runs (or ran) that could not be
// searched, and why: its packages may be missing from the matches.
type Skipped struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Current     bool   `json:"current"`
	Reason      string `json:"reason"`

	envIndex int
}

// Result is what Find found, and how much it read to find it.
type Result struct {
	Matches []Match   `json:"matches"`
	Skipped []Skipped `json:"skipped,omitempty"`
	// Verified counts the digests verified (once per repository and
	// digest); SBOMs counts the SPDX documents decoded and searched (once
	// per platform-manifest digest).
	Verified int `json:"verified"`
	SBOMs    int `json:"sboms"`
	// Unreachable has one entry per target for each environment whose
	// registry could not be read (Match.Unreachable says why): a partial
	// answer, searched in the other environments only.
	Unreachable []Match `json:"unreachable,omitempty"`
}

// Find searches, for every target and environment of opts.Config, the
// verified SBOMs of the digest the environment's tag points at (and with
// q.History every digest holding a verified receipt for the environment) for
// the packages q matches. Matches come sorted by target, environment (in
// promotion order), digest, platform and package. An environment whose
// registry cannot be reached is left out and listed in Result.Unreachable:
// the result is then partial and comes with promote.Unreachable's error
// (failure.Unavailable, naming those environments), for the caller to
// print the result and fail after it.
func Find(ctx context.Context, opts Options, q Query) (*Result, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if opts.Parallel < 1 {
		opts.Parallel = DefaultParallel
	}
	s := &search{opts: opts, q: q, binds: map[string]receipt.Binding{}}
	for _, t := range opts.Config.TargetNames() {
		s.binds[t] = receipt.Bind(opts.Config, t)
	}
	var revs *revoke.Set
	lists := make(chan error, 1)
	go func() {
		var err error
		revs, err = revoke.Load(ctx, opts.Config, opts.Verifier)
		lists <- err
	}()
	cands, err := s.locate(ctx)
	if err == nil {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(opts.Parallel)
		for _, j := range jobsOf(cands) {
			g.Go(func() error { return s.searchJob(gctx, j) })
		}
		err = g.Wait()
	}
	if lerr := <-lists; err == nil {
		err = lerr
	}
	if err != nil {
		return nil, err
	}
	res := s.result()
	now := time.Now()
	for i := range res.Matches {
		if e, ok := revs.Revoked(res.Matches[i].Digest, now); ok {
			res.Matches[i].Revoked = &e
		}
	}
	return res, promote.Unreachable(opts.Config, s.down)
}

// search is the state of one Find.
type search struct {
	opts  Options
	q     Query
	binds map[string]receipt.Binding

	sboms     memo[[]Package]   // the matching packages, by platform-manifest digest
	described memo[description] // by digest
	nVerified atomic.Int64
	nSBOMs    atomic.Int64

	mu      sync.Mutex
	matches []Match
	skipped []Skipped
	down    map[string]error // environment -> why its registry could not be read
}

// unreachable records that env's registry could not be read when err is an
// outage, and reports whether it was: the search goes on without env.
func (s *search) unreachable(env *config.Environment, err error) bool {
	if failure.ClassOf(err) != failure.Unavailable {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == nil {
		s.down = map[string]error{}
	}
	if _, ok := s.down[env.Name]; !ok {
		s.down[env.Name] = err
	}
	return true
}

// candidate is a digest to search: one an environment's tag points at, or
// (History) one that may be in the environment's history.
type candidate struct {
	target   string
	env      *config.Environment
	envIndex int
	ref      name.Digest
	current  bool
}

// locate finds the candidates of every target and environment, concurrently.
func (s *search) locate(ctx context.Context) ([]candidate, error) {
	cfg := s.opts.Config
	var mu sync.Mutex
	var out []candidate
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Parallel)
	for _, target := range cfg.TargetNames() {
		for i := range cfg.Environments {
			g.Go(func() error {
				cs, err := s.locateOne(gctx, target, i)
				if s.unreachable(&cfg.Environments[i], err) {
					return nil // one registry down must not blank the others
				}
				mu.Lock()
				out = append(out, cs...)
				mu.Unlock()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmpAll(strings.Compare(a.target, b.target), a.envIndex-b.envIndex, strings.Compare(a.ref.DigestStr(), b.ref.DigestStr()))
	})
	return out, nil
}

// locateOne resolves target's tag in the i-th environment and, with History,
// lists the digests of its repository that carry attestations (which of them
// hold a receipt for the environment is known once they are verified).
func (s *search) locateOne(ctx context.Context, target string, i int) ([]candidate, error) {
	env := &s.opts.Config.Environments[i]
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	var current name.Digest
	if d, err := registry.Resolve(ctx, tag); err == nil {
		current = d
	} else if failure.ClassOf(err) == failure.Unavailable {
		return nil, err
	} // else: nothing is there
	var out []candidate
	if current.DigestStr() != "" {
		out = append(out, candidate{target: target, env: env, envIndex: i, ref: current, current: true})
	}
	if !s.q.History {
		return out, nil
	}
	digests, err := promote.AttestedDigests(ctx, tag.Context())
	if err != nil {
		return nil, err
	}
	for _, d := range digests {
		if d.DigestStr() != current.DigestStr() {
			out = append(out, candidate{target: target, env: env, envIndex: i, ref: d})
		}
	}
	return out, nil
}

// job is one digest of one repository, to verify once, and the candidates
// it is (more than one when environments share a repository).
type job struct {
	ref   name.Digest
	cands []candidate
}

// jobsOf groups candidates by repository and digest, in their order.
func jobsOf(cands []candidate) []*job {
	var out []*job
	byRef := map[string]*job{}
	for _, c := range cands {
		j, ok := byRef[c.ref.String()]
		if !ok {
			j = &job{ref: c.ref}
			byRef[c.ref.String()], out = j, append(out, j)
		}
		j.cands = append(j.cands, c)
	}
	return out
}

// searchJob verifies one repository digest and searches its verified SBOMs
// for the candidates it is. Only an outage is an error: a digest that does
// not verify is skipped (and said so), and one that is not an environment's
// current digest and holds no receipt for it is not its history. The report
// (with every SBOM in it) is dropped when the job ends.
func (s *search) searchJob(ctx context.Context, j *job) error {
	s.nVerified.Add(1)
	rep, verr := s.opts.Verifier.Verify(ctx, j.ref)
	if rep == nil {
		if s.unreachableAll(j.cands, verr) {
			return nil
		}
		if ctx.Err() != nil {
			return verr
		}
		for _, c := range j.cands {
			if c.current {
				s.skip(c, verr)
			}
		}
		return nil
	}
	var cands []candidate
	for _, c := range j.cands {
		if c.current || receipt.Has(rep, s.binds[c.target], c.env.Name) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	var found []Match
	if verr == nil {
		found, verr = s.searchSBOMs(rep, j.ref)
	}
	if verr != nil {
		for _, c := range cands {
			s.skip(c, verr)
		}
		return nil
	}
	if len(found) == 0 {
		return nil
	}
	if err := s.record(ctx, j.ref, rep, cands, found); !s.unreachableAll(cands, err) {
		return err
	}
	return nil
}

// unreachableAll is unreachable for the environment of each candidate.
func (s *search) unreachableAll(cands []candidate, err error) bool {
	down := false
	for _, c := range cands {
		down = s.unreachable(c.env, err) || down
	}
	return down
}

// searchSBOMs returns the packages q matches in each platform's verified
// SBOM, as matches that name no target or environment yet.
func (s *search) searchSBOMs(rep *attest.Report, ref name.Digest) ([]Match, error) {
	var found []Match
	for _, sb := range platformSBOMs(rep, ref) {
		pkgs, err := s.matching(sb)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			found = append(found, Match{Digest: ref.DigestStr(), Platform: sb.platform, PlatformDigest: sb.digest, Package: p})
		}
	}
	return found, nil
}

// platformSBOM is the verified SPDX document of one platform image.
type platformSBOM struct {
	platform, digest string
	doc              []byte
}

// platformSBOMs pairs each platform image of rep (the digest itself for a
// single image) with its verified SPDX attestation.
func platformSBOMs(rep *attest.Report, ref name.Digest) []platformSBOM {
	plats := rep.Platforms
	if len(plats) == 0 {
		plats = []attest.PlatformImage{{Digest: ref.DigestStr()}} // its platform is read if it matches
	}
	var out []platformSBOM
	for _, p := range plats {
		for _, a := range rep.Attestations {
			if a.PredicateType == attest.PredicateSPDX && slices.ContainsFunc(a.Subjects, func(s string) bool { return strings.HasSuffix(s, "@"+p.Digest) }) {
				out = append(out, platformSBOM{platform: p.Platform, digest: p.Digest, doc: a.Predicate})
				break
			}
		}
	}
	return out
}

// matching decodes a platform's SBOM and keeps the packages q matches, once
// per platform-manifest digest.
func (s *search) matching(sb platformSBOM) ([]Package, error) {
	return s.sboms.get(sb.digest, func() ([]Package, error) {
		s.nSBOMs.Add(1)
		pkgs, err := ParseSPDX(sb.doc)
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(pkgs, func(p Package) bool { return !s.q.Matches(p) }), nil
	})
}

// description is what a digest is: its kind, a machine image's AMIs as it
// was built, a single image's platform.
type description struct {
	kind     string
	amis     map[string]string
	platform string
}

// record completes the matches of one digest for each candidate it is
// (target, environment, kind, the environment's AMIs, a single image's
// platform) and keeps them.
func (s *search) record(ctx context.Context, ref name.Digest, rep *attest.Report, cands []candidate, found []Match) error {
	d := description{kind: string(builders.Container)}
	if len(rep.Platforms) == 0 { // an index is a container image, with its platforms named
		var err error
		if d, err = s.described.get(ref.DigestStr(), func() (description, error) { return describeImage(ctx, ref) }); err != nil {
			return err
		}
	}
	var out []Match
	for _, c := range cands {
		amis := d.amis
		if envAMIs := receipt.AMIs(rep, s.binds[c.target], c.env.Name); len(envAMIs) > 0 {
			amis = envAMIs // the AMIs the promotion into this environment made
		}
		for _, m := range found {
			m.Target, m.Environment, m.Current, m.envIndex = c.target, c.env.Name, c.current, c.envIndex
			m.Kind, m.AMIs, m.Reference = d.kind, amis, ref.String()
			if m.Platform == "" {
				m.Platform = d.platform
			}
			out = append(out, m)
		}
	}
	s.mu.Lock()
	s.matches = append(s.matches, out...)
	s.mu.Unlock()
	return nil
}

// describeImage reads a single image's manifest and config: a machine-image
// record, or a container image of one platform.
func describeImage(ctx context.Context, ref name.Digest) (description, error) {
	img, err := remote.Image(ref, registry.Options(ctx)...)
	if err != nil {
		return description{}, registry.Classify(ref.String(), err)
	}
	rec, err := machineimage.FromImage(img)
	switch {
	case err == nil:
		return description{kind: string(builders.MachineImage), amis: rec.AMIs, platform: rec.Platform}, nil
	case !errors.Is(err, machineimage.ErrNotRecord):
		return description{}, registry.Classify(ref.String(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return description{}, registry.Classify(ref.String(), err)
	}
	platform, err := builders.PlatformOf(cf)
	if err != nil {
		return description{}, failure.New(failure.Verify, ref.String(), err, "")
	}
	return description{kind: string(builders.Container), platform: platform}, nil
}

// skip records a candidate that could not be searched; the reason is the
// cause alone (the digest and environment are named beside it).
func (s *search) skip(c candidate, err error) {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Err != nil {
		err = fe.Err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = append(s.skipped, Skipped{Target: c.target, Environment: c.env.Name, Digest: c.ref.DigestStr(),
		Current: c.current, Reason: failure.OneLine(err.Error()), envIndex: c.envIndex})
}

// result sorts what was found.
func (s *search) result() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	// What was read of an environment before its registry went away is
	// not its answer: it is shown as unreachable, nothing else.
	s.matches = slices.DeleteFunc(s.matches, func(m Match) bool { return s.down[m.Environment] != nil })
	s.skipped = slices.DeleteFunc(s.skipped, func(k Skipped) bool { return s.down[k.Environment] != nil })
	slices.SortFunc(s.matches, func(a, b Match) int {
		return cmpAll(strings.Compare(a.Target, b.Target), a.envIndex-b.envIndex, cmpBool(b.Current, a.Current),
			strings.Compare(a.Digest, b.Digest), strings.Compare(a.Platform, b.Platform),
			strings.Compare(a.Package.Name, b.Package.Name), Compare(a.Package.Type, a.Package.Version, b.Package.Version))
	})
	slices.SortFunc(s.skipped, func(a, b Skipped) int {
		return cmpAll(strings.Compare(a.Target, b.Target), a.envIndex-b.envIndex, strings.Compare(a.Digest, b.Digest))
	})
	res := &Result{Matches: s.matches, Skipped: s.skipped, Verified: int(s.nVerified.Load()), SBOMs: int(s.nSBOMs.Load())}
	if res.Matches == nil {
		res.Matches = []Match{}
	}
	for _, target := range s.opts.Config.TargetNames() {
		for i, e := range s.opts.Config.Environments {
			if err, ok := s.down[e.Name]; ok {
				res.Unreachable = append(res.Unreachable, Match{Target: target, Environment: e.Name,
					Unreachable: failure.OneLine(err.Error()), envIndex: i})
			}
		}
	}
	return res
}

// cmpAll is the first non-zero comparison.
func cmpAll(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// memo computes each key's value once, however many goroutines ask for it
// at the same time.
type memo[V any] struct {
	mu    sync.Mutex
	cells map[string]*memoCell[V]
}

type memoCell[V any] struct {
	once sync.Once
	v    V
	err  error
}

func (m *memo[V]) get(key string, f func() (V, error)) (V, error) {
	m.mu.Lock()
	if m.cells == nil {
		m.cells = map[string]*memoCell[V]{}
	}
	c, ok := m.cells[key]
	if !ok {
		c = &memoCell[V]{}
		m.cells[key] = c
	}
	m.mu.Unlock()
	c.once.Do(func() { c.v, c.err = f() })
	return c.v, c.err
}
