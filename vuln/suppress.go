package vuln

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/openvex/go-vex/pkg/vex"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
)

// VEXPredicatePrefix is how OpenVEX predicate types start (`cosign attest
// --type openvex` writes https://openvex.dev/ns).
const VEXPredicatePrefix = "https://openvex.dev/ns"

// VEXDoc is an OpenVEX document a trusted key signed, and where it came
// from.
type VEXDoc struct {
	Source string
	KeyID  string
	Doc    *vex.VEX
}

// IgnoredVEX is a VEX document that counts for nothing, and why.
type IgnoredVEX struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// AttachedVEX are the OpenVEX attestations of a verified report: each was
// signed by a trusted key and names the digest among its subjects.
func AttachedVEX(rep *attest.Report) ([]VEXDoc, []IgnoredVEX) {
	var docs []VEXDoc
	var ignored []IgnoredVEX
	for _, a := range rep.Attestations {
		if !strings.HasPrefix(a.PredicateType, VEXPredicatePrefix) {
			continue
		}
		src := "attestation " + a.Layer.String()
		d, err := vex.Parse(a.Predicate)
		if err != nil {
			ignored = append(ignored, IgnoredVEX{Source: src, Reason: err.Error()})
			continue
		}
		docs = append(docs, VEXDoc{Source: src, KeyID: a.KeyID, Doc: d})
	}
	return docs, ignored
}

// LoadVEX reads the OpenVEX files bakery.yaml lists (paths as given, already
// resolved): each counts only when FILE.sig holds a signature of it by one
// of keys, as `cosign sign-blob --key` writes one (base64). A file that does
// not count is returned as ignored, with the reason, never silently.
func LoadVEX(ctx context.Context, files []string, keys []attest.TrustedKey) ([]VEXDoc, []IgnoredVEX) {
	var docs []VEXDoc
	var ignored []IgnoredVEX
	for _, f := range files {
		doc, keyID, err := loadSigned(ctx, f, keys)
		if err != nil {
			ignored = append(ignored, IgnoredVEX{Source: f, Reason: err.Error()})
			continue
		}
		docs = append(docs, VEXDoc{Source: f, KeyID: keyID, Doc: doc})
	}
	return docs, ignored
}

func loadSigned(ctx context.Context, file string, keys []attest.TrustedKey) (*vex.VEX, string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	sigText, err := os.ReadFile(file + ".sig")
	if err != nil {
		return nil, "", fmt.Errorf("unsigned: no %s.sig (sign it with cosign sign-blob --key KEY --output-signature %s.sig %s)", file, file, file)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil {
		return nil, "", fmt.Errorf("%s.sig is not a base64 signature", file)
	}
	keyID := ""
	for _, k := range keys {
		if k.Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(b), options.WithContext(ctx)) == nil {
			keyID = k.ID
			break
		}
	}
	if keyID == "" {
		return nil, "", errors.New("no trusted key signed it (verification.keys)")
	}
	d, err := vex.Parse(b)
	if err != nil {
		return nil, "", fmt.Errorf("not an OpenVEX document: %w", err)
	}
	return d, keyID, nil
}

// Judge marks which findings of ev (scans of digest d of target) a VEX
// statement or a waiver suppresses at now:
//   - a statement of docs suppresses a finding when it names the finding's
//     vulnerability (or an alias), a product naming d (pkg:oci/NAME@sha256%3AHEX,
//     REPO@sha256:HEX, or its sha-256 hash) and, when it lists subcomponents,
//     the finding's package URL; of the statements that match, the newest
//     counts, and it suppresses when its status is not_affected or fixed;
//   - a waiver suppresses a finding with its id in target (or "*") until the
//     end of its until day; after that the finding counts again, with a note.
func Judge(ev []Evidence, d name.Digest, target string, docs []VEXDoc, waivers []config.Waiver, now time.Time) {
	products := productIDs(d)
	for i := range ev {
		for j := range ev[i].Findings {
			f := &ev[i].Findings[j]
			f.Suppressed, f.Note = nil, ""
			if s := vexFor(f.Finding, products, docs); s != nil {
				f.Suppressed = s
				continue
			}
			for _, w := range waivers {
				if !strings.EqualFold(w.ID, f.ID) || w.Target != target && w.Target != "*" {
					continue
				}
				if now.Before(w.Expires()) {
					f.Suppressed = &Suppression{By: "waiver", Source: "bakery.yaml", Until: w.Until, Reason: w.Reason, ApprovedBy: w.ApprovedBy}
					f.Note = ""
					break
				}
				f.Note = fmt.Sprintf("waiver expired %s (approved by %s)", w.Until, w.ApprovedBy)
			}
		}
	}
}

// vexFor is the suppression the newest matching statement of docs makes,
// or nil.
func vexFor(f Finding, products []string, docs []VEXDoc) *Suppression {
	var best *vex.Statement
	var bestDoc VEXDoc
	var bestAt time.Time
	for _, doc := range docs {
		for k := range doc.Doc.Statements {
			st := &doc.Doc.Statements[k]
			if !matches(st, f, products) {
				continue
			}
			at := doc.Doc.Timestamp
			if st.Timestamp != nil {
				at = st.Timestamp
			}
			var t time.Time
			if at != nil {
				t = *at
			}
			if best == nil || t.After(bestAt) {
				best, bestDoc, bestAt = st, doc, t
			}
		}
	}
	if best == nil || best.Status != vex.StatusNotAffected && best.Status != vex.StatusFixed {
		return nil
	}
	return &Suppression{By: "vex", Status: string(best.Status), Justification: string(best.Justification), Source: bestDoc.Source, KeyID: bestDoc.KeyID}
}

func matches(st *vex.Statement, f Finding, products []string) bool {
	var subs []string
	if f.PURL != "" {
		subs = []string{f.PURL}
	}
	for _, p := range products {
		if st.Matches(f.ID, p, subs) {
			return true
		}
	}
	return false
}

// productIDs are the identifiers a VEX product may name digest d by.
func productIDs(d name.Digest) []string {
	hex := strings.TrimPrefix(d.DigestStr(), "sha256:")
	repo := d.Context().RepositoryStr()
	base := repo[strings.LastIndex(repo, "/")+1:]
	return []string{
		"pkg:oci/" + base + "@sha256%3A" + hex,
		d.Context().Name() + "@" + d.DigestStr(),
		d.DigestStr(),
		hex,
	}
}

// Suppressions are what may suppress a finding besides the VEX attached to
// a digest: bakery.yaml's signed VEX files and its waivers. A command loads
// them once (NewSuppressions) and judges every digest with them (Evidence).
type Suppressions struct {
	Docs    []VEXDoc
	Ignored []IgnoredVEX
	Waivers []config.Waiver
}

// NewSuppressions loads cfg's VEX files, checked against keys, and its
// waivers.
func NewSuppressions(ctx context.Context, cfg *config.Config, keys []attest.TrustedKey) *Suppressions {
	var files []string
	for _, f := range cfg.Vulnerabilities.VEX {
		files = append(files, cfg.Path(f))
	}
	s := &Suppressions{Waivers: cfg.Vulnerabilities.Waivers}
	s.Docs, s.Ignored = LoadVEX(ctx, files, keys)
	return s
}

// Evidence is the one answer to "which known vulnerabilities does this
// verified digest of target carry?": the scans that count (Scans), judged
// at now by the VEX attached to it, s's VEX files and s's waivers (Judge).
// It also returns every VEX document that counted for nothing, and why. s
// may be nil (no VEX files, no waivers).
func (s *Suppressions) Evidence(rep *attest.Report, target string, now time.Time) ([]Evidence, []IgnoredVEX) {
	ev := Scans(rep, target)
	attached, ignored := AttachedVEX(rep)
	var docs []VEXDoc
	var waivers []config.Waiver
	if s != nil {
		docs, waivers = append(docs, s.Docs...), s.Waivers
		ignored = append(append([]IgnoredVEX{}, s.Ignored...), ignored...)
	}
	d, err := name.NewDigest(rep.Reference)
	if err != nil {
		return ev, ignored
	}
	Judge(ev, d, target, append(attached, docs...), waivers, now)
	return ev, ignored
}
