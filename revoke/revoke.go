// Package revoke keeps the signed revocation list: which digests must no
// longer run, why, since when, and who said so.
//
// Where it lives: one list per environment, at
// ENV_REPOSITORY/bakery-revocations:list, an OCI image whose one layer is a
// DSSE envelope of an in-toto statement (predicate type PredicateType) that
// lists every entry. Each `bakery revoke` re-reads all the lists, adds its
// entries and writes the union, signed, to every environment. A run reads
// each environment's list once (Load); the union of the lists that verify
// with a trusted key is what counts, so an attacker who can push to dev can
// neither forge an entry (it would not verify: it is reported and ignored,
// never honoured) nor drop one by rolling dev's list back (prod's copy still
// has it). Entries are never removed; `--restore` adds a later entry that
// undoes a revocation.
package revoke

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

const (
	// PredicateType is the in-toto predicate type of a revocation list.
	PredicateType = "https://github.com/bakeryhq/bakery/revocations/v1"
	// Repository is the list's repository under each environment's prefix.
	Repository = config.ReservedRepository
	// Tag is the list's tag.
	Tag = "list"

	// ActionRevoke revokes a digest.
	ActionRevoke = "revoke"
	// ActionRestore undoes an earlier revocation.
	ActionRestore = "restore"

	// TimeFormat has a fixed width, so that times also sort as strings.
	TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
)

// Entry is one revocation (or restoration) of a digest, in every repository
// and environment it is in.
type Entry struct {
	Digest string `json:"digest"`
	Action string `json:"action"`
	// Target is the target the digest was found under, for people.
	Target string `json:"target,omitempty"`
	Reason string `json:"reason"`
	// Time is when the entry was signed; EffectiveAt is when it takes effect
	// (later than Time for a scheduled revocation).
	Time        string `json:"time"`
	EffectiveAt string `json:"effectiveAt"`
	// By is the signing key's id, and the user who ran bakery when known.
	By string `json:"by"`
	// Cause is the digest whose revocation cascaded to this one (a base or
	// dependency named in this digest's provenance).
	Cause string `json:"cause,omitempty"`
}

// By is an Entry's By: the actor (who ran bakery: --actor, the CI identity
// with its run URL, or the local user), when known, and the signing key.
func By(actor, keyID string) string {
	if actor != "" {
		return actor + " (key " + keyID + ")"
	}
	return "key " + keyID
}

// predicate is the signed list.
type predicate struct {
	Entries []Entry `json:"entries"`
}

// Set is the union of the verified lists read in one run.
type Set struct {
	byDigest map[string][]Entry
	// Ignored names each list that was there but did not verify with a
	// trusted key, and why. It counts for nothing.
	Ignored []string
}

// Location is env's list.
func Location(env *config.Environment) (name.Tag, error) {
	var opts []name.Option
	if env.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewTag(strings.TrimSuffix(env.Repository, "/")+"/"+Repository+":"+Tag, opts...)
}

// Load reads every environment's list (concurrently, once each) and keeps
// the entries of the lists that verify with v's keys. A list that is not there
// is empty. A registry that cannot be reached is listed in Ignored and
// skipped, since every revocation is written to every environment's list;
// only when no list can be read at all is it an error (exit 6).
func Load(ctx context.Context, cfg *config.Config, v *attest.Verifier) (*Set, error) {
	s := &Set{byDigest: map[string][]Entry{}}
	var (
		mu          sync.Mutex
		got         int
		unreachable error
	)
	g, gctx := errgroup.WithContext(ctx)
	for i := range cfg.Environments {
		env := &cfg.Environments[i]
		g.Go(func() error {
			loc, err := Location(env)
			if err != nil {
				return failure.New(failure.Config, "environment "+env.Name, err, "")
			}
			entries, err := read(gctx, loc, v)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				s.add(entries...)
				got++
			case failure.ClassOf(err) == failure.Unavailable:
				// Every revoke writes every environment's list, so the
				// others hold the same entries; one registry that is down
				// must not stop promotions between the others.
				s.Ignored = append(s.Ignored, fmt.Sprintf("%s: unreachable, not read: %v", loc, err))
				unreachable = err
			default: // forged, malformed, or pointing at blobs that are not there
				s.Ignored = append(s.Ignored, fmt.Sprintf("%s: %v", loc, err))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if got == 0 && unreachable != nil {
		return nil, unreachable // no list could be read at all
	}
	sort.Strings(s.Ignored)
	return s, nil
}

// read returns the entries of the list at loc; none when it is not there.
func read(ctx context.Context, loc name.Tag, v *attest.Verifier) ([]Entry, error) {
	env, err := attest.ReadRecord(ctx, loc)
	if err != nil || env == nil {
		return nil, err
	}
	return open(env, v.Keys())
}

// open verifies a DSSE envelope with any of keys and returns its entries.
func open(envelope []byte, keys []attest.TrustedKey) ([]Entry, error) {
	var p predicate
	if err := attest.OpenRecord(envelope, keys, PredicateType, &p); err != nil {
		return nil, fmt.Errorf("not a revocation list: %w", err)
	}
	return p.Entries, nil
}

// add merges entries, once each.
func (s *Set) add(entries ...Entry) {
	for _, e := range entries {
		if e.Digest == "" || (e.Action != ActionRevoke && e.Action != ActionRestore) {
			continue
		}
		list := s.byDigest[e.Digest]
		dup := false
		for _, have := range list {
			dup = dup || have == e
		}
		if !dup {
			list = append(list, e)
			sort.SliceStable(list, func(i, j int) bool { return list[i].Time < list[j].Time })
			s.byDigest[e.Digest] = list
		}
	}
}

// Revoked returns the revocation in force for digest at now: the newest
// entry that has taken effect, when it revokes.
func (s *Set) Revoked(digest string, now time.Time) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	at := now.UTC().Format(TimeFormat)
	var cur Entry
	for _, e := range s.byDigest[digest] {
		if e.EffectiveAt <= at {
			cur = e
		}
	}
	return cur, cur.Action == ActionRevoke
}

// Scheduled returns a revocation of digest that has not taken effect yet.
func (s *Set) Scheduled(digest string, now time.Time) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	at := now.UTC().Format(TimeFormat)
	list := s.byDigest[digest]
	if len(list) == 0 {
		return Entry{}, false
	}
	last := list[len(list)-1]
	return last, last.Action == ActionRevoke && last.EffectiveAt > at
}

// Union is a Set of the entries of s and of other together (either may be
// nil): the site's lists and a bundle's, for an import.
func Union(s, other *Set) *Set {
	u := &Set{byDigest: map[string][]Entry{}}
	for _, x := range []*Set{s, other} {
		if x != nil {
			u.add(x.Entries()...)
			u.Ignored = append(u.Ignored, x.Ignored...)
		}
	}
	return u
}

// Exclude adds e (a lineage entry: Digest revoked through Cause) to s, a
// caller's own copy, so that Revoked reports it like a listed one.
func (s *Set) Exclude(e Entry) { s.add(e) }

// Entries lists every entry, oldest first.
func (s *Set) Entries() []Entry {
	if s == nil {
		return nil
	}
	var out []Entry
	for _, l := range s.byDigest {
		out = append(out, l...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out
}

// Write adds entries to the list: it re-reads every environment's list,
// signs the union with signer and pushes it to every environment, then reads
// each back to check that the entries are there (a concurrent revoke that
// overwrote them is retried, up to three times).
func Write(ctx context.Context, cfg *config.Config, signer signature.Signer, v *attest.Verifier, entries []Entry) error {
	var err error
	for range 3 {
		var s *Set
		if s, err = Load(ctx, cfg, v); err != nil {
			return err
		}
		s.add(entries...)
		if err = push(ctx, cfg, signer, s.Entries()); err != nil {
			return err
		}
		if err = present(ctx, cfg, v, entries); err == nil {
			return nil
		}
	}
	return failure.New(failure.Conflict, "revocation list", err, "another revoke ran at the same time: run bakery revoke again")
}

// push signs entries into one list and writes it to every environment.
func push(ctx context.Context, cfg *config.Config, signer signature.Signer, entries []Entry) error {
	envelope, err := attest.SealRecord(signer, Repository, listDigest(entries), PredicateType, predicate{Entries: entries})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range cfg.Environments {
		env := &cfg.Environments[i]
		g.Go(func() error {
			loc, err := Location(env)
			if err != nil {
				return err
			}
			_, err = attest.PushRecord(gctx, loc, envelope)
			return err
		})
	}
	return g.Wait()
}

// present checks that every environment's list holds entries.
func present(ctx context.Context, cfg *config.Config, v *attest.Verifier, entries []Entry) error {
	for i := range cfg.Environments {
		loc, err := Location(&cfg.Environments[i])
		if err != nil {
			return err
		}
		got, err := read(ctx, loc, v)
		if err != nil {
			return err
		}
		s := &Set{byDigest: map[string][]Entry{}}
		s.add(got...)
		for _, e := range entries {
			found := false
			for _, have := range s.byDigest[e.Digest] {
				found = found || have == e
			}
			if !found {
				return fmt.Errorf("%s lost the entry for %s", loc, e.Digest)
			}
		}
	}
	return nil
}

// listDigest is the statement's subject: a digest of the entries, so that
// the statement names what it lists.
func listDigest(entries []Entry) string {
	b, _ := json.Marshal(entries)
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h.Hex
}
