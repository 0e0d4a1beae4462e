package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// MaxLineageDepth bounds how many bases deep Lineage follows a digest's
// verified provenance (golden base → app → app on app is depth 2). An
// ancestor's answer is kept for the Lineage's life, so a digest checked
// later may learn of a revocation deeper than the bound: never less safe.
const MaxLineageDepth = 8

// Lineage makes revocation an invariant rather than an event: a digest is
// revoked when the list revokes it, or any digest its verified provenance
// names as a base or material, transitively. It reads each ancestor's
// provenance (only that attestation, verified with the trusted keys) once
// per Lineage, and follows ancestors only inside the config's own
// repositories, where bakery signed them: there an ancestor whose provenance
// does not verify (hidden, deleted, forged) is a verification failure, not a
// silent end of the walk. Materials outside them (the Debian base image) are
// checked against the list and not followed.
type Lineage struct {
	set      *Set
	verifier *attest.Verifier
	// repos are the environments' repository prefixes ("host/dev/"), with
	// whether each is plain HTTP.
	repos    map[string]bool
	maxDepth int
	// offline: nothing is read; only the digest and the materials its own
	// provenance names are checked.
	offline bool

	mu   sync.Mutex
	memo map[string]*ancestry
}

// ancestry is what one digest's walk found.
type ancestry struct {
	once sync.Once
	// entry is the revocation in force (Cause set when through an ancestor).
	entry   Entry
	revoked bool
	err     error
}

// NewLineage returns the lineage check of set for cfg's repositories.
func NewLineage(set *Set, cfg *config.Config, v *attest.Verifier) *Lineage {
	l := &Lineage{set: set, verifier: v, repos: map[string]bool{}, maxDepth: MaxLineageDepth, memo: map[string]*ancestry{}}
	if cfg != nil {
		for _, e := range cfg.Environments {
			l.repos[strings.TrimSuffix(e.Repository, "/")+"/"] = e.Insecure
		}
	}
	return l
}

// LoadLineage is the lineage check of every environment's list, read with
// Load: what a command that judges digests needs.
func LoadLineage(ctx context.Context, cfg *config.Config, v *attest.Verifier) (*Lineage, error) {
	set, err := Load(ctx, cfg, v)
	if err != nil {
		return nil, err
	}
	return NewLineage(set, cfg, v), nil
}

// Offline returns a Lineage that reads nothing: a digest is checked against
// the list together with the materials its own provenance names (depth 1),
// for a decision made with no registry (verify --bundle).
func (l *Lineage) Offline() *Lineage {
	return &Lineage{set: l.set, verifier: l.verifier, repos: l.repos, maxDepth: 1, offline: true, memo: map[string]*ancestry{}}
}

// Set is the revocation list the lineage judges by.
func (l *Lineage) Set() *Set { return l.set }

// Check returns the revocation in force at now for rep's digest: its own,
// or, with Cause naming the revoked ancestor, one that reaches it through
// the bases and materials of rep's verified provenance. An ancestor inside
// the config's repositories whose provenance cannot be verified is
// failure.Verify; an unreachable registry failure.Unavailable.
func (l *Lineage) Check(ctx context.Context, rep *attest.Report, now time.Time) (Entry, bool, error) {
	digest := rep.Digest.String()
	if e, ok := l.set.Revoked(digest, now); ok {
		return e, true, nil
	}
	e, ok, err := l.materials(ctx, digest, deps(rep), now, 1, []string{digest})
	if ok {
		e.Digest = digest
	}
	return e, ok, err
}

// Describe is the one wording of a revocation in force, for every command:
// "revoked at T by K: reason", or for a digest revoked through its lineage
// "built on sha256:…, revoked at T by K: reason".
func (e Entry) Describe() string {
	s := fmt.Sprintf("revoked at %s by %s: %s", e.EffectiveAt, e.By, e.Reason)
	if e.Cause != "" {
		s = "built on " + e.Cause + ", " + s
	}
	return s
}

// Material is an input of a build as its provenance names it: a purl
// (pkg:docker/REPO@VERSION?platform=…) or another URI, and its digest.
type Material struct {
	URI    string
	Digest string // sha256:…
}

// CheckMaterials is Check for a build that has not been attested yet: the
// revocation in force for any of materials or, transitively, their bases.
// Entry.Digest is of, Entry.Cause the revoked ancestor.
func (l *Lineage) CheckMaterials(ctx context.Context, of string, materials []Material, now time.Time) (Entry, bool, error) {
	ds := make([]dependency, 0, len(materials))
	for _, m := range materials {
		if strings.HasPrefix(m.Digest, "sha256:") {
			ds = append(ds, dependency{repo: purlRepository(m.URI), digest: m.Digest})
		}
	}
	e, ok, err := l.materials(ctx, of, ds, now, 1, []string{of})
	if ok {
		e.Digest = of
	}
	return e, ok, err
}

// CheckBase is the check of an image a build is about to use as its base,
// by reference (ref resolved once, by the caller): revoked itself, or
// through its lineage when it is inside the config's repositories.
func (l *Lineage) CheckBase(ctx context.Context, ref name.Digest, now time.Time) (Entry, bool, error) {
	e, ok, err := l.materials(ctx, ref.DigestStr(), []dependency{{repo: ref.Context().Name(), digest: ref.DigestStr()}}, now, 1, nil)
	if ok && e.Cause == ref.DigestStr() {
		e.Cause = "" // the base itself is revoked
	}
	if ok {
		e.Digest = ref.DigestStr()
	}
	return e, ok, err
}

// dependency is a material of a provenance: where and which digest.
type dependency struct {
	repo   string // "" when not an image reference
	digest string
}

// deps reads the materials of rep's verified SLSA provenance.
func deps(rep *attest.Report) []dependency {
	var out []dependency
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateSLSAv1 {
			continue
		}
		var p struct {
			BuildDefinition struct {
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		}
		if json.Unmarshal(a.Predicate, &p) != nil {
			continue // attest verified it is JSON; a foreign shape names no materials
		}
		for _, d := range p.BuildDefinition.ResolvedDependencies {
			h := d.Digest["sha256"]
			if len(h) != 64 {
				continue
			}
			out = append(out, dependency{repo: purlRepository(d.URI), digest: "sha256:" + h})
		}
	}
	return out
}

// materials checks each material of the digest at the end of path, then
// walks into those inside the config's repositories.
func (l *Lineage) materials(ctx context.Context, of string, ds []dependency, now time.Time, depth int, path []string) (Entry, bool, error) {
	for _, d := range ds {
		if e, ok := l.set.Revoked(d.digest, now); ok {
			e.Cause = d.digest
			return e, true, nil
		}
	}
	if l.offline || depth >= l.maxDepth {
		return Entry{}, false, nil
	}
	for _, d := range ds {
		insecure, ours := l.follows(d.repo)
		if !ours || slices.Contains(path, d.digest) {
			continue
		}
		a := l.ancestor(d.digest)
		a.once.Do(func() {
			a.entry, a.revoked, a.err = l.walk(ctx, of, d, insecure, now, depth+1, append(slices.Clone(path), d.digest))
		})
		if a.err != nil || a.revoked {
			return a.entry, a.revoked, a.err
		}
	}
	return Entry{}, false, nil
}

// walk reads d's provenance and checks its materials.
func (l *Lineage) walk(ctx context.Context, of string, d dependency, insecure bool, now time.Time, depth int, path []string) (Entry, bool, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(d.repo+"@"+d.digest, opts...)
	if err != nil {
		return Entry{}, false, failure.New(failure.Verify, of, fmt.Errorf("its provenance names a base %s@%s that is not a valid reference: %w", d.repo, d.digest, err), "")
	}
	atts, _, err := l.verifier.Attestations(ctx, ref, []string{attest.PredicateSLSAv1})
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return Entry{}, false, err
		}
		return Entry{}, false, unreadable(of, ref, err)
	}
	rep := &attest.Report{Reference: ref.String(), Attestations: atts}
	if len(deps(rep)) == 0 && !hasProvenance(atts) {
		return Entry{}, false, unreadable(of, ref, errors.New("no provenance signed by a trusted key"))
	}
	e, ok, err := l.materials(ctx, d.digest, deps(rep), now, depth, path)
	if ok && e.Cause == "" {
		e.Cause = d.digest
	}
	return e, ok, err
}

func unreadable(of string, base name.Digest, err error) error {
	return failure.New(failure.Verify, of, fmt.Errorf("its base %s has no verifiable provenance, so whether a revoked image is in its lineage cannot be known: %w", base, err),
		"restore the base's signed attestations (bakery attest), or rebuild on a base bakery verifies")
}

func hasProvenance(atts []attest.AttestationInfo) bool {
	for _, a := range atts {
		if a.PredicateType == attest.PredicateSLSAv1 {
			return true
		}
	}
	return false
}

// ancestor is the memo entry for digest.
func (l *Lineage) ancestor(digest string) *ancestry {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.memo[digest]
	if !ok {
		a = &ancestry{}
		l.memo[digest] = a
	}
	return a
}

// follows says whether repo is inside one of the config's repositories.
func (l *Lineage) follows(repo string) (insecure, ok bool) {
	if repo == "" {
		return false, false
	}
	for prefix, insecure := range l.repos {
		if strings.HasPrefix(repo+"/", prefix) {
			return insecure, true
		}
	}
	return false, false
}

// purlRepository is REPO of pkg:docker/REPO@VERSION?…, the form BuildKit
// records a base image in ("" for anything else).
func purlRepository(uri string) string {
	rest, ok := strings.CutPrefix(uri, "pkg:docker/")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "?")
	repo, _, _ := strings.Cut(rest, "@")
	repo, err := url.PathUnescape(repo)
	if err != nil {
		return ""
	}
	return repo
}
