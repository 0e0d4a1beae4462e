package vuln

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// PredicateType is cosign's vulnerability predicate: `cosign
// verify-attestation --type vuln` names it.
const PredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"

// Predicate is cosign's vulnerability predicate (CosignVulnPredicate), as
// bakery fills it: the scanner and database in Scanner, the findings and
// what bakery binds them to in Scanner.Result.
type Predicate struct {
	Invocation Invocation `json:"invocation"`
	Scanner    Scanner    `json:"scanner"`
	Metadata   Metadata   `json:"metadata"`
}

// Invocation says how the scan was invoked.
type Invocation struct {
	Parameters []string `json:"parameters"`
	URI        string   `json:"uri"`
	EventID    string   `json:"event_id"`
	BuilderID  string   `json:"builder.id"`
}

// Scanner names the scanner, its database and the result.
type Scanner struct {
	// URI is the scanner's package URL (grype, as a library of bakery).
	URI     string `json:"uri"`
	Version string `json:"version"`
	DB      DB     `json:"db"`
	Result  Result `json:"result"`
}

// DB names the database: URI its schema, Version its build time (RFC 3339),
// which is how scans compare databases.
type DB struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// Metadata is when the scan ran.
type Metadata struct {
	ScanStartedOn  time.Time `json:"scanStartedOn"`
	ScanFinishedOn time.Time `json:"scanFinishedOn"`
}

// Result is what one scan of one platform's SBOM found.
type Result struct {
	Findings []Finding `json:"findings"`
	Bakery   Details   `json:"bakery"`
}

// Details is what a scan is bound to: a policy counts it only for this
// target and (with the statement's subjects) platform.
type Details struct {
	Target string `json:"target"`
	// Platform is the scanned image's os/arch[/variant]; "" for an image
	// that is not an index (and a machine image).
	Platform string `json:"platform,omitempty"`
	// Environment is the environment whose digest was scanned; "" for the
	// scan of bakery build.
	Environment string `json:"environment,omitempty"`
	// SBOM is the digest of the SPDX document scanned (its layer).
	SBOM string `json:"sbom"`
	// Packages is how many packages the SBOM listed.
	Packages int `json:"packages"`
	// DBBuilt is the database's build time; DBSchema its schema.
	DBBuilt  time.Time `json:"dbBuilt"`
	DBSchema string    `json:"dbSchema"`
}

// Finding is one known vulnerability of one package.
type Finding struct {
	ID string `json:"id"`
	// Package, Version and Type name the package (Type is the purl type:
	// deb, apk, npm, golang, …).
	Package string `json:"package"`
	Version string `json:"version"`
	Type    string `json:"type"`
	// PURL is the package's package URL, which VEX statements name.
	PURL string `json:"purl,omitempty"`
	// Fixed lists the versions that fix it; FixState is fixed, not-fixed,
	// wont-fix or unknown.
	Fixed    []string `json:"fixedIn"`
	FixState string   `json:"fixState"`
	// Severity is negligible, low, medium, high, critical or unknown.
	Severity string `json:"severity"`
	// Namespace is the advisory's source (debian:distro:debian:12, …).
	Namespace string `json:"namespace,omitempty"`
}

// HasFix says whether a fixed version exists.
func (f Finding) HasFix() bool { return f.FixState == "fixed" && len(f.Fixed) > 0 }

// Severities orders severities, lowest first; unknown ranks below
// negligible.
var Severities = []string{"unknown", "negligible", "low", "medium", "high", "critical"}

// Rank is s's place in Severities (0 for an unknown one).
func Rank(s string) int {
	if i := slices.Index(Severities, s); i >= 0 {
		return i
	}
	return 0
}

// ParsePredicate decodes a vulnerability predicate that bakery wrote: one
// without bakery's details (another scanner's) is an error.
func ParsePredicate(b []byte) (Predicate, error) {
	var p Predicate
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("vulnerability predicate: %w", err)
	}
	if p.Scanner.Result.Bakery.Target == "" || p.Scanner.Result.Bakery.DBBuilt.IsZero() {
		return p, errors.New("vulnerability predicate: not a bakery scan (no target or database)")
	}
	return p, nil
}
