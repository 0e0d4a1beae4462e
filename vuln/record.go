package vuln

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// ScannerURI names the scanner in every predicate bakery writes.
const ScannerURI = "pkg:golang/github.com/anchore/grype"

// Scan is one recorded scan: the predicate and the platform it is about.
type Scan struct {
	Predicate Predicate
	// Statement is the signed statement's subjects and predicate.
	Statement attest.Statement
	// Supersedes are the attestation layers of the verified scans this one
	// replaces when it is recorded: those of the same target and platform
	// made with the same database or an older one.
	Supersedes []v1.Hash
}

// ScanReport scans every platform's verified SPDX SBOM of rep (a digest of
// target, in env, "" for bakery build's scan) and returns one statement per
// platform, each about rep's digest and that platform's image, ready to be
// signed (Attach). A report without an SPDX SBOM is a failure.Verify.
func (d *Database) ScanReport(ctx context.Context, rep *attest.Report, target, env string) ([]Scan, error) {
	ref, err := name.NewDigest(rep.Reference)
	if err != nil {
		return nil, err
	}
	var out []Scan
	cited := citedLayers(rep) // read once, for every platform
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateSPDX {
			continue
		}
		plat, pref := platformOf(ref, a.Subjects, rep.Platforms)
		started := time.Now().UTC()
		findings, n, err := d.Scan(ctx, a.Predicate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		p := Predicate{
			Invocation: Invocation{Parameters: []string{}, URI: "bakery scan"},
			Scanner: Scanner{URI: ScannerURI, Version: ScannerVersion(),
				DB: DB{URI: "grype:db/" + d.status.Schema, Version: d.status.Built.Format(time.RFC3339)},
				Result: Result{Findings: findings, Bakery: Details{Target: target, Platform: plat, Environment: env,
					SBOM: a.Layer.String(), Packages: n, DBBuilt: d.status.Built, DBSchema: d.status.Schema}}},
			Metadata: Metadata{ScanStartedOn: started, ScanFinishedOn: time.Now().UTC()},
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		subjects := []attest.Subject{attest.SubjectOf(ref)}
		if pref != ref {
			subjects = append(subjects, attest.SubjectOf(pref))
		}
		out = append(out, Scan{Predicate: p, Statement: attest.Statement{PredicateType: PredicateType, Subjects: subjects, Predicate: b, Platform: plat},
			Supersedes: superseded(rep, cited, target, plat, d.status.Built)})
	}
	if len(out) == 0 {
		return nil, failure.New(failure.Verify, rep.Reference, errors.New("no verified SPDX SBOM to scan"), "attest the image first (bakery build attests every image)")
	}
	return out, nil
}

// superseded lists the layers of rep's verified scans of target and
// platform made with a database built at built or before: a new scan with
// that database says all they said. A scan made with a newer database
// stays (it outranks the new one: Scans), and so does anything that does
// not verify (it counts for nothing, and is not bakery's to remove), and
// any scan a verified receipt names among the attestations its decision
// relied on (cited: so that the receipt's references still resolve).
func superseded(rep *attest.Report, cited map[v1.Hash]bool, target, platform string, built time.Time) []v1.Hash {
	var out []v1.Hash
	for a, p := range boundScans(rep, target) {
		if d := p.Scanner.Result.Bakery; d.Platform == platform && !d.DBBuilt.After(built) && !cited[a.Layer] {
			out = append(out, a.Layer)
		}
	}
	return out
}

// citedLayers are the attestation layers that rep's verified receipts
// name as their inputs.
func citedLayers(rep *attest.Report) map[v1.Hash]bool {
	out := map[v1.Hash]bool{}
	for _, a := range rep.Attestations {
		if a.PredicateType != attest.PredicateVSA {
			continue
		}
		var vsa struct {
			InputAttestations []struct {
				Digest map[string]string `json:"digest"`
			} `json:"inputAttestations"`
		}
		if json.Unmarshal(a.Predicate, &vsa) != nil {
			continue
		}
		for _, in := range vsa.InputAttestations {
			for alg, hex := range in.Digest {
				out[v1.Hash{Algorithm: alg, Hex: hex}] = true
			}
		}
	}
	return out
}

// Record signs scans with signer and attaches them to ref's digest, as
// attestations like the SBOMs, in place of the scans they supersede when
// signer's key is among trusted (the keys that verified them): a digest
// rescanned every day keeps one scan per platform and database, not one per
// day (attest.MaxAttestations would refuse it as flooded). A scan signed by
// a key nobody trusts counts for nothing, so it replaces nothing.
func Record(ctx context.Context, signer signature.SignerVerifier, trusted []attest.TrustedKey, ref name.Digest, scans []Scan) error {
	stmts := make([]attest.Statement, len(scans))
	var replaced []v1.Hash
	id, err := attest.KeyID(signer)
	counts := err == nil && slices.ContainsFunc(trusted, func(k attest.TrustedKey) bool { return k.ID == id })
	for i, s := range scans {
		stmts[i] = s.Statement
		if counts {
			replaced = append(replaced, s.Supersedes...)
		}
	}
	return attest.AttachReplacing(ctx, signer, ref, stmts, replaced)
}

// ReplaceScans is atts (a verified report's attestations) with its scans
// replaced by scans, the verified scans read again after Record: a new
// slice, atts is left as it was.
func ReplaceScans(atts, scans []attest.AttestationInfo) []attest.AttestationInfo {
	out := make([]attest.AttestationInfo, 0, len(atts)+len(scans))
	for _, a := range atts {
		if a.PredicateType != PredicateType {
			out = append(out, a)
		}
	}
	return append(out, scans...)
}

// platformOf is the platform an attestation is about, with its image: the
// platform image among its subjects, or ("", ref) for an image that is not
// an index.
func platformOf(ref name.Digest, subjects []string, platforms []attest.PlatformImage) (string, name.Digest) {
	for _, p := range platforms {
		for _, s := range subjects {
			if strings.HasSuffix(s, "@"+p.Digest) {
				return p.Platform, ref.Context().Digest(p.Digest)
			}
		}
	}
	return "", ref
}
