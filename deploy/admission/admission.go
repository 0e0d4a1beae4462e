// Package admission writes the cluster side of bakery's gate: admission
// policies for sigstore's policy-controller (ClusterImagePolicy) and for
// Kyverno (ClusterPolicy) that admit a container image only when its digest
// holds a bakery receipt for one environment, signed by a trusted key, and
// is not revoked.
//
// What a written policy binds, per target of the environment:
//   - the image is named by digest, in the target's repository of that
//     environment (a tag is refused: both tools would resolve it at
//     admission, which is not what was verified);
//   - an attestation of the SLSA verification summary type (bakery's
//     receipt), signed by one of verification.keys, whose subject is that
//     digest, whose verifier is bakery, whose verificationResult is PASSED,
//     whose environment and target are this environment and target, and
//     whose resourceUri is the environment's repository at that digest;
//   - the digest is not in the verified revocation list in force (a
//     scheduled revocation takes effect at its time).
//
// The policies are plain files, written the same way every time (no
// timestamps), so that they live in Git next to the deployment files, and
// `bakery revoke --write-admission DIR` rewrites them when the list changes.
package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// VerifierID is the verifier.id every bakery receipt names.
const VerifierID = receipt.VerifierID

// Policy is what one environment's admission policies say: its targets and
// their repositories, the keys that may sign receipts, and the revoked
// digests.
type Policy struct {
	Environment string
	Targets     []Target
	// Keys are the trusted public keys, PEM encoded.
	Keys []string
	// Revoked are the digests whose newest revocation entry revokes, with
	// when it takes (or took) effect.
	Revoked []Revocation
}

// Target is one container target and its repository in the environment.
type Target struct {
	Name       string
	Repository string
	// Repositories is the target's repository in every environment.
	Repositories map[string]string
	// Receipted are the digests that hold a verified receipt for the
	// environment (bakery history), sorted: Kyverno's policy admits only
	// these (see Kyverno).
	Receipted []string
}

// Revocation is a revoked digest and when the revocation takes effect
// (RFC 3339).
type Revocation struct {
	Digest      string `json:"digest"`
	EffectiveAt string `json:"effectiveAt"`
}

// Format renders a Policy as one tool's admission policy file.
type Format interface {
	// Name is the format's name (--format).
	Name() string
	// Render returns the file's contents: one or more YAML documents.
	Render(p Policy) ([]byte, error)
}

// Formats lists the formats bakery writes, by name.
var Formats = map[string]Format{
	PolicyController{}.Name(): PolicyController{},
	Kyverno{}.Name():          Kyverno{},
}

// FormatNames lists the formats' names, sorted.
func FormatNames() []string {
	names := make([]string, 0, len(Formats))
	for n := range Formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named format, or a config error listing the known ones.
func Lookup(name string) (Format, error) {
	if f, ok := Formats[name]; ok {
		return f, nil
	}
	return nil, failure.New(failure.Config, "--format "+name, errors.New("unknown admission format"),
		"use one of: "+strings.Join(FormatNames(), ", "))
}

// For returns the Policy of env: every container target of cfg (machine
// images never reach a cluster), the trusted keys, and the revocations of
// revs (nil: none).
func For(cfg *config.Config, env *config.Environment, keys []attest.TrustedKey, revs *revoke.Set) (Policy, error) {
	p := Policy{Environment: env.Name}
	for _, name := range cfg.TargetNames() {
		if cfg.Targets[name].Type != config.TypeContainer {
			continue
		}
		tag, err := env.Locate(name)
		if err != nil {
			return Policy{}, err
		}
		p.Targets = append(p.Targets, Target{Name: name, Repository: tag.Context().String(),
			Repositories: receipt.Bind(cfg, name).Repositories})
	}
	if len(p.Targets) == 0 {
		return Policy{}, failure.New(failure.Config, cfg.File, errors.New("no container targets"),
			"admission policies are for container images; define a target of type container")
	}
	if len(keys) == 0 {
		return Policy{}, failure.New(failure.Config, "verification.keys", errors.New("no trusted keys configured"),
			"list the cosign public keys that sign receipts under verification.keys, or pass --key")
	}
	for _, k := range keys {
		pem, err := publicPEM(k.Verifier)
		if err != nil {
			return Policy{}, failure.New(failure.Config, "trusted key "+k.ID, err, "use a cosign public key (PEM) or a KMS key with a public key")
		}
		p.Keys = append(p.Keys, pem)
	}
	p.Revoked = Revoked(revs)
	return p, nil
}

func publicPEM(v signature.Verifier) (string, error) {
	k, err := v.PublicKey()
	if err != nil {
		return "", err
	}
	b, err := cryptoutils.MarshalPublicKeyToPEM(k)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Revoked lists the digests of revs whose newest entry revokes, in force
// now or scheduled, sorted by digest. A restored digest is not listed.
func Revoked(revs *revoke.Set) []Revocation {
	newest := map[string]revoke.Entry{}
	for _, e := range revs.Entries() { // oldest first per digest
		if have, ok := newest[e.Digest]; !ok || have.Time <= e.Time {
			newest[e.Digest] = e
		}
	}
	var out []Revocation
	for d, e := range newest {
		if e.Action != revoke.ActionRevoke {
			continue
		}
		// A time that does not parse counts as in force: the policies
		// compare times, and an unreadable one must not let the digest in.
		at := "1970-01-01T00:00:00Z"
		if t, err := time.Parse(time.RFC3339Nano, e.EffectiveAt); err == nil {
			at = t.UTC().Format(time.RFC3339)
		}
		out = append(out, Revocation{Digest: d, EffectiveAt: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

// FileName is the file an environment's policy of format f is written to.
func FileName(env string, f Format) string { return env + "-" + f.Name() + ".yaml" }

// Write renders p in each format into dir (FileName), each file written to
// a temporary file and renamed over the old one; a file whose contents
// would not change is left alone. It returns the files it changed.
func Write(dir string, p Policy, formats []Format) ([]string, error) {
	var changed []string
	for _, f := range formats {
		body, err := f.Render(p)
		if err != nil {
			return changed, err
		}
		path := filepath.Join(dir, FileName(p.Environment, f))
		ok, err := writeFile(path, body)
		if err != nil {
			return changed, err
		}
		if ok {
			changed = append(changed, path)
		}
	}
	return changed, nil
}

// Existing returns the formats whose file for env is already in dir.
func Existing(dir, env string) []Format {
	var out []Format
	for _, n := range FormatNames() {
		if _, err := os.Stat(filepath.Join(dir, FileName(env, Formats[n]))); err == nil {
			out = append(out, Formats[n])
		}
	}
	return out
}

func writeFile(path string, body []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, body) {
		return false, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, failure.New(failure.Config, dir, err, "pass an --out directory bakery can create and write")
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return false, failure.New(failure.Config, dir, err, "pass an --out directory bakery can write")
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return false, failure.New(failure.Config, path, err, "check the disk")
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, failure.New(failure.Config, path, err, "check the disk")
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return false, failure.New(failure.Config, path, err, "check the directory's permissions")
	}
	if err := tmp.Close(); err != nil {
		return false, failure.New(failure.Config, path, err, "check the disk")
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, failure.New(failure.Config, path, err, "check the directory's permissions")
	}
	return true, nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// resourceName is a Kubernetes object name (DNS-1123 label) for parts.
func resourceName(parts ...string) string {
	n := strings.ToLower(strings.Join(parts, "-"))
	n = strings.Trim(unsafeName.ReplaceAllString(n, "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

// Load builds the Policy of the environment named env: the trusted keys of
// v, and the revocation lists read from the registry.
func Load(ctx context.Context, cfg *config.Config, v *attest.Verifier, env string) (Policy, error) {
	e, _, err := cfg.LookupEnvironment(env)
	if err != nil {
		return Policy{}, err
	}
	revs, err := revoke.Load(ctx, cfg, v)
	if err != nil {
		return Policy{}, err
	}
	return load(ctx, cfg, v, e, revs)
}

// load is Load with the revocation lists already read.
func load(ctx context.Context, cfg *config.Config, v *attest.Verifier, e *config.Environment, revs *revoke.Set) (Policy, error) {
	p, err := For(cfg, e, v.Keys(), revs)
	if err != nil {
		return Policy{}, err
	}
	for i := range p.Targets {
		hist, err := promote.History(ctx, v, p.Targets[i].Name, e)
		if err != nil {
			return Policy{}, err
		}
		seen := map[string]bool{}
		for _, h := range hist {
			if h.Result == receipt.Passed && !seen[h.Digest] {
				seen[h.Digest] = true
				p.Targets[i].Receipted = append(p.Targets[i].Receipted, h.Digest)
			}
		}
		sort.Strings(p.Targets[i].Receipted)
	}
	return p, nil
}

// Rewrite writes the policies of every environment into dir again, in the
// formats whose files are already there (every format when dir holds none
// for any environment), and returns the files that changed: what
// `bakery revoke --write-admission DIR` does after writing the list.
// With envs, only those environments' files are written (after a
// promotion: its destinations').
func Rewrite(ctx context.Context, cfg *config.Config, v *attest.Verifier, dir string, envs ...string) ([]string, error) {
	existing := map[string][]Format{}
	anyFile := false
	for _, e := range cfg.Environments {
		existing[e.Name] = Existing(dir, e.Name)
		anyFile = anyFile || len(existing[e.Name]) > 0
	}
	// the lists are read once, for every environment's policy
	revs, err := revoke.Load(ctx, cfg, v)
	if err != nil {
		return nil, err
	}
	var changed []string
	for i := range cfg.Environments {
		e := &cfg.Environments[i]
		if len(envs) > 0 && !slices.Contains(envs, e.Name) {
			continue
		}
		formats := existing[e.Name]
		if !anyFile {
			for _, n := range FormatNames() {
				formats = append(formats, Formats[n])
			}
		}
		if len(formats) == 0 {
			continue
		}
		p, err := load(ctx, cfg, v, e, revs)
		if err != nil {
			return changed, err
		}
		c, err := Write(dir, p, formats)
		changed = append(changed, c...)
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// check reports a Policy that could not admit anything, which is a bug.
func (p Policy) check() error {
	if p.Environment == "" || len(p.Targets) == 0 || len(p.Keys) == 0 {
		return fmt.Errorf("admission policy of %q has no targets or no keys", p.Environment)
	}
	return nil
}
