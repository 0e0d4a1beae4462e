// Package report gathers, from the registry alone and from verified data
// only, what a compliance reviewer asks of every target and environment
// (what runs there, what it contains, who built and signed it from which
// source, which policies allowed each step, whether anything is revoked or
// drifting, which known vulnerabilities it carries and what changed since
// the digest before), and writes it as report.json and as a static, self-contained
// HTML report: an overview matrix of targets × environments and a page per
// digest, with plots drawn as inline SVG. Nothing in the HTML is fetched:
// no fonts, scripts or styles from elsewhere, so it opens offline and can be
// archived as is.
//
// What failed verification is kept and marked, never dropped: a cell whose
// digest does not verify, an attestation that was ignored, a receipt chain
// or SBOM delta that could not be read all appear, in red, with the reason.
package report

import (
	"time"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/inventory"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/revoke"
)

// Report is everything a report shows; report.json is this, encoded.
type Report struct {
	// Generated is when the registry was read.
	Generated    time.Time `json:"generated"`
	Targets      []string  `json:"targets"`
	Environments []string  `json:"environments"`
	// Cells are the matrix, target by target, environments in promotion
	// order.
	Cells []Cell `json:"cells"`
	// Digests are the digests the cells run, each with its own page.
	Digests []Digest `json:"digests"`
	// Revocations are the entries of the signed revocation lists that
	// verified; RevocationProblems names each list that did not.
	Revocations        []revoke.Entry `json:"revocations"`
	RevocationProblems []string       `json:"revocationProblems,omitempty"`
	// Unreachable names each environment of the report whose registry
	// could not be read: its cells say UNREACHABLE, and the report is
	// partial.
	Unreachable []Unreachable `json:"unreachable,omitempty"`
}

// Unreachable is an environment whose registry could not be read, and why.
type Unreachable struct {
	Environment string `json:"environment"`
	Repository  string `json:"repository"`
	Problem     string `json:"problem"`
}

// Cell is what one environment runs for one target, as bakery status reads
// it, with the environment's receipted history and the page of its digest.
type Cell struct {
	promote.Status
	// Age is how long ago the receipt that put the digest there was
	// signed, for people ("3d 4h").
	Age string `json:"age,omitempty"`
	// Page is the digest page's file name, relative to index.html.
	Page string `json:"page,omitempty"`
	// History is every verified receipt of the environment, oldest first;
	// Previous is the digest the environment ran before the current one.
	History  []promote.Entry `json:"history"`
	Previous string          `json:"previous,omitempty"`
	// Problem says why the history could not be read, if it could not.
	Problem string `json:"problem,omitempty"`
	// Vulnerabilities are the counts by severity of the digest the cell
	// runs (its page has the findings); nil when its digest could not be
	// read.
	Vulnerabilities *VulnCounts `json:"vulnerabilities,omitempty"`
}

// Digest is one digest of one target, as verified in the last environment
// (in promotion order) that runs it.
type Digest struct {
	Target    string `json:"target"`
	Digest    string `json:"digest"`
	Reference string `json:"reference"`
	Kind      string `json:"kind"`
	Page      string `json:"page"`
	// Environments run this digest now.
	Environments []string `json:"environments"`
	// Verified is attest.Verify's verdict; Problems are its reasons when
	// it failed, and anything else that could not be read.
	Verified bool     `json:"verified"`
	Problems []string `json:"problems,omitempty"`
	// Size is the bytes of every manifest, config and distinct layer.
	Size         int64         `json:"size"`
	Platforms    []Platform    `json:"platforms"`
	Provenance   *Provenance   `json:"provenance,omitempty"`
	Signatures   []Signature   `json:"signatures"`
	Attestations []Attestation `json:"attestations"`
	// Receipts are every verified receipt the digest holds, read in every
	// environment's repository, oldest first: also those of environments
	// it no longer runs in.
	Receipts []Receipt     `json:"receipts"`
	Deltas   []Delta       `json:"deltas"`
	Revoked  *revoke.Entry `json:"revocation,omitempty"`
	// Suites are the suites the target configures; Tests is the digest's
	// test evidence (promote.Tests: the newest result bound to the digest
	// and target per suite, platform and environment, failed tests named);
	// TestSummary says it in the words every command uses
	// (promote.TestSummary, "" when there is neither a suite nor a result).
	Suites      []string               `json:"suites"`
	Tests       []promote.TestEvidence `json:"tests"`
	TestSummary string                 `json:"testSummary,omitempty"`
	// Vulnerabilities is the digest's vulnerability evidence for its target
	// (vuln.Suppressions.Evidence): the scan that counts per platform with
	// every finding, suppressed ones marked, and its summary and counts;
	// nil when the digest could not be read.
	Vulnerabilities *Vulnerabilities `json:"vulnerabilities,omitempty"`
}

// Platform is one platform image of a digest (the digest itself for a
// single image) and the packages its verified SPDX SBOM lists.
type Platform struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	// SBOM says a verified SPDX attestation covers this platform.
	SBOM     bool                `json:"sbom"`
	Packages []inventory.Package `json:"packages"`
	// Licenses counts the packages under each license ("(none)" for a
	// package whose SBOM names none), most first.
	Licenses []Count `json:"licenses"`
}

// Count is how many packages have a license.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// Provenance is the verified SLSA provenance, as a reviewer reads it.
type Provenance struct {
	BuilderID      string                `json:"builderId"`
	BuilderVersion map[string]string     `json:"builderVersion,omitempty"`
	BuildType      string                `json:"buildType"`
	StartedOn      string                `json:"startedOn,omitempty"`
	FinishedOn     string                `json:"finishedOn,omitempty"`
	Source         *builders.Source      `json:"source,omitempty"`
	Bases          []builders.Dependency `json:"bases"`
	Args           map[string]string     `json:"args,omitempty"`
	// Secrets are the build's secrets by id and source kind: provenance
	// never holds their values.
	Secrets []Secret `json:"secrets,omitempty"`
}

// Secret is one build secret, by id.
type Secret struct {
	ID     string `json:"id"`
	Source string `json:"source"`
}

// Signature is one signature on the digest.
type Signature struct {
	KeyID    string `json:"keyId"`
	SignedAt string `json:"signedAt,omitempty"`
	Verified bool   `json:"verified"`
}

// Attestation is one attestation attached to the digest: verified, or
// ignored with the reason.
type Attestation struct {
	PredicateType string `json:"predicateType"`
	Platform      string `json:"platform,omitempty"`
	KeyID         string `json:"keyId,omitempty"`
	SignedAt      string `json:"signedAt,omitempty"`
	Layer         string `json:"layer"`
	Verified      bool   `json:"verified"`
	Reason        string `json:"reason,omitempty"`
}

// Receipt is one verified step of the digest's path: its build, a
// promotion or a rollback, the policies that allowed it and its result.
// Current says the digest runs in Environment now; a receipt of an
// environment that has moved on (a rollback took it out) is kept.
type Receipt struct {
	Environment  string            `json:"environment"`
	Current      bool              `json:"current"`
	Action       string            `json:"action"`
	From         string            `json:"from,omitempty"`
	Time         string            `json:"time"`
	KeyID        string            `json:"keyId"`
	Result       string            `json:"result"`
	Policies     []string          `json:"policies"`
	PolicyDigest string            `json:"policyDigest,omitempty"`
	AMIs         map[string]string `json:"amis,omitempty"`
}

// Delta is how the digest's SBOM and known vulnerabilities differ from
// those of the digest the environment ran before it; Problem says why it
// could not be computed.
type Delta struct {
	Environment string          `json:"environment"`
	Delta       *policies.Delta `json:"delta,omitempty"`
	// Vulnerabilities are the vulnerabilities added and fixed against the
	// previous digest (CompareVulns); nil when the previous digest does
	// not verify.
	Vulnerabilities *VulnDelta `json:"vulnerabilities,omitempty"`
	Problem         string     `json:"problem,omitempty"`
}

// Unverified lists, for people, every cell and digest whose verification
// failed: "target in env (digest)".
func (r *Report) Unverified() []string {
	var out []string
	for _, c := range r.Cells {
		if c.Digest != "" && !c.Verified {
			out = append(out, c.Target+" in "+c.Environment+" ("+c.Digest+")")
		}
	}
	return out
}
