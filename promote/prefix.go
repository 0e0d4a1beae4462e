package promote

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
)

// MinPrefix is the fewest hex digits a digest prefix may have: bakery status
// prints sha256: and 12 of them.
const MinPrefix = 12

// ParsePrefix reads what a person typed for a digest: sha256:HEX or HEX,
// with at least MinPrefix and at most 64 hex digits. It returns the digest
// or prefix as sha256:HEX, and whether it is a full digest. Anything else is
// a failure.Config.
func ParsePrefix(s string) (prefix string, full bool, err error) {
	hex := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false, failure.New(failure.Config, "digest "+s, errors.New("is not a digest: it has characters other than hex digits"),
				fmt.Sprintf("use sha256:<64 hex digits>, or a unique prefix of at least %d hex digits, as bakery status prints", MinPrefix))
		}
	}
	switch {
	case len(hex) < MinPrefix:
		return "", false, failure.New(failure.Config, "digest "+s, fmt.Errorf("has %d hex digits; a digest prefix needs at least %d", len(hex), MinPrefix),
			"copy the digest from bakery status or bakery history TARGET")
	case len(hex) > 64:
		return "", false, failure.New(failure.Config, "digest "+s, fmt.Errorf("has %d hex digits; a sha256 digest has 64", len(hex)),
			"copy the digest from bakery status or bakery history TARGET")
	}
	return "sha256:" + hex, len(hex) == 64, nil
}

// MatchPrefix returns the one digest of digests (sha256:HEX, duplicates
// allowed) that starts with prefix (sha256:HEX, as ParsePrefix returns it).
// No match, or several, is a failure.Config; several name every candidate.
// subject names what was searched (a target, or "any target") for the
// message.
func MatchPrefix(prefix string, digests []string, subject string) (string, error) {
	seen := map[string]bool{}
	var matches []string
	for _, d := range digests {
		if strings.HasPrefix(d, prefix) && !seen[d] {
			seen[d] = true
			matches = append(matches, d)
		}
	}
	sort.Strings(matches)
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		hint := "see bakery history TARGET"
		if subject != "" && subject != anyTarget {
			hint = "see bakery history " + subject
		}
		return "", failure.New(failure.Config, "digest "+prefix, fmt.Errorf("no digest of %s starts with %s", subject, strings.TrimPrefix(prefix, "sha256:")), hint)
	}
	return "", failure.New(failure.Config, "digest "+prefix,
		fmt.Errorf("is ambiguous: %d digests of %s start with it: %s", len(matches), subject, strings.Join(matches, ", ")),
		"type more hex digits, or the full digest")
}

const anyTarget = "any target"

// ResolvePrefix turns what a person typed for a digest of target ("" for
// any target of cfg) into the full digest, as git and docker resolve short
// ids. A full digest is returned as is, with no lookup. A prefix of at least
// MinPrefix hex digits is matched against target's known digests: those
// that verify and hold a receipt for target in any environment (as
// KnownDigests lists them, reading only the digests that match); with env,
// also every digest that has signatures or attestations in env's repository
// of target and the digest env's tag points at, verified or not, so that a
// digest a later step refuses is refused there with its own reason. A prefix
// too short, not hex, matching nothing or more than one digest is a
// failure.Config (exit 2); ambiguity lists the candidates.
func ResolvePrefix(ctx context.Context, verifier *attest.Verifier, cfg *config.Config, target, env, prefix string) (string, error) {
	p, full, err := ParsePrefix(prefix)
	if err != nil || full {
		return p, err
	}
	targets, subject := []string{target}, target
	if target == "" {
		targets, subject = cfg.TargetNames(), anyTarget
	} else if _, err := cfg.LookupTarget(target); err != nil {
		return "", err
	}
	if env != "" {
		if _, _, err := cfg.LookupEnvironment(env); err != nil {
			return "", err
		}
	}
	var (
		mu         sync.Mutex
		candidates []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, t := range targets {
		bind := receipt.Bind(cfg, t)
		for i := range cfg.Environments {
			e := &cfg.Environments[i]
			g.Go(func() error {
				found, err := prefixedIn(gctx, verifier, bind, t, e, p, e.Name == env)
				mu.Lock()
				candidates = append(candidates, found...)
				mu.Unlock()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return MatchPrefix(p, candidates, subject)
}

// prefixedIn lists the digests starting with prefix in target's repository
// of env: the known ones (verified, with env's receipt), or with all, every
// one with signatures or attestations there and the one env's tag points at.
func prefixedIn(ctx context.Context, verifier *attest.Verifier, bind receipt.Binding, target string, env *config.Environment, prefix string, all bool) ([]string, error) {
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	var also []string
	if all {
		also = []string{".sig"}
	}
	digests, err := AttestedDigests(ctx, tag.Context(), also...)
	if err != nil {
		return nil, err
	}
	var out []string
	if all {
		if d, err := resolveTag(ctx, tag); err == nil && strings.HasPrefix(d.DigestStr(), prefix) {
			out = append(out, d.DigestStr())
		}
	}
	for _, d := range digests {
		if !strings.HasPrefix(d.DigestStr(), prefix) {
			continue
		}
		if all {
			out = append(out, d.DigestStr())
			continue
		}
		if _, ok, err := knownAs(ctx, verifier, bind, target, env, d); err != nil {
			return out, err
		} else if ok {
			out = append(out, d.DigestStr())
		}
	}
	return out, nil
}

// ResolveDigest is ResolvePrefix for req.Digest of req.Target, with the
// source environment of req (req.From, or the one before req.To) as the
// environment whose repository is searched too. A request without a digest
// resolves to "".
func (p *Promoter) ResolveDigest(ctx context.Context, req Request) (string, error) {
	if req.Digest == "" {
		return "", nil
	}
	cfg, from := p.opts.Config, req.From
	if _, i, err := cfg.LookupEnvironment(req.To); from == "" && err == nil && i > 0 {
		from = cfg.Environments[i-1].Name
	}
	return ResolvePrefix(ctx, p.opts.Verifier, cfg, req.Target, from, req.Digest)
}
