// Package bundle carries one promoted digest across an air gap. Export writes
// an OCI image layout as a tar: the image by digest with every platform (or a
// machine image's record), its cosign signature and attestation manifests
// (receipts among the attestations), the public keys, the policies and the
// policy data in force, and bakery's own manifest listing every object, file
// and blob by digest. The manifest is signed by the exporter's signing key.
//
// Verify reads the bundle with no network at all: Open checks the tar, every
// blob against its digest and the layout against the signed manifest; Serve
// answers registry requests for the layout in-process (registry.ServeLocal:
// no socket), so that the same attest.Verify, receipt and policies code that
// reads a registry reads the bundle. Trust comes only from the verifier's own
// keys, never from the keys the bundle carries: a forged bundle brings its
// own. The bundle's policies decide only when their digest is the one the
// verified receipt for the environment records; otherwise the site's own
// policies do.
//
// Import verifies the bundle, copies the digest with its trusted signatures
// and attestations into a site's environment, verifies it there, signs an
// import receipt with the site's own key when one is configured, and only
// then moves the environment's tag. docs/bundles.md has the format.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// MediaType is the media type of bakery's bundle manifest in index.json.
const MediaType = "application/vnd.bakery.bundle.v1+json"

// Annotations of index.json entries.
const (
	// AnnotationRole says what an index.json entry is: manifest, image,
	// signatures or attestations.
	AnnotationRole = "dev.bakery.bundle.role"
	// AnnotationSignature is the base64 signature of the bundle manifest's
	// bytes, by the exporter's signing key.
	AnnotationSignature = "dev.bakery.bundle.signature"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// Roles of objects and files.
const (
	RoleManifest     = "manifest"
	RoleImage        = "image"
	RoleSignatures   = "signatures"
	RoleAttestations = "attestations"
	// RoleRevocations is the exported environment's signed revocation list
	// (package revoke), as it was at export.
	RoleRevocations = "revocations"
	RoleKey         = "key"
	RolePolicy      = "policy"
	RolePolicyData  = "policy-data"
	RoleDisk        = "disk"
)

// Manifest is bakery's own listing of a bundle, signed by the exporter.
type Manifest struct {
	Version     int       `json:"version"`
	Target      string    `json:"target"`
	Environment string    `json:"environment"`
	Kind        string    `json:"kind"`
	Digest      string    `json:"digest"`
	ExportedAt  time.Time `json:"exportedAt"`
	Exporter    string    `json:"exporter"`
	// Source is the repository the digest was exported from.
	Source string `json:"source"`
	// Repositories are the target's repository per environment at the
	// source: what the receipts name (receipt.Binding).
	Repositories map[string]string `json:"repositories"`
	// Objects are the image and its cosign signature and attestation
	// manifests, as index.json lists them.
	Objects []Object `json:"objects"`
	// Files are the keys, policies, policy data and disk artifact.
	Files []File `json:"files"`
	// PolicyDigest is the digest of the policy files (policies.Engine).
	PolicyDigest string `json:"policyDigest"`
	// Blobs are every blob of the layout but this manifest, manifests of
	// children before their parents.
	Blobs []Blob `json:"blobs"`
}

// Object is a manifest index.json names: the image, or a cosign tag.
type Object struct {
	Role      string `json:"role"`
	Tag       string `json:"tag,omitempty"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// File is a file the bundle carries as a blob.
type File struct {
	Role   string `json:"role"`
	Name   string `json:"name"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// KeyID is a key file's id (attest.KeyID).
	KeyID string `json:"keyId,omitempty"`
}

// Blob is one blob of the layout and what it is.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// What is "manifest", "config", "layer" or a file role.
	What string `json:"what"`
	// MediaType is a manifest's media type.
	MediaType string `json:"mediaType,omitempty"`
	// Of is the object (role) or file name the blob belongs to.
	Of string `json:"of"`
}

// describe names a blob for a person.
func (b Blob) describe() string {
	return fmt.Sprintf("%s %s of %s", b.What, b.Digest, b.Of)
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// signManifest signs the manifest's bytes.
func signManifest(s signature.Signer, body []byte) (string, error) {
	sig, err := s.SignMessage(bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("signing the bundle manifest: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// checkManifestSignature returns the id of the trusted key that signed body.
func checkManifestSignature(path string, keys []attest.TrustedKey, body []byte, sig64 string) (string, error) {
	subject := "bundle " + path + ": manifest " + digestOf(body)
	if sig64 == "" {
		return "", failure.New(failure.Verify, subject, errors.New("is not signed"), "export the bundle again with a signing key")
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return "", failure.New(failure.Verify, subject, fmt.Errorf("signature is not base64: %w", err), "")
	}
	for _, k := range keys {
		if k.Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			return k.ID, nil
		}
	}
	return "", failure.New(failure.Verify, subject, errors.New("is not signed by a trusted key"),
		"the bundle was changed after export, or exported by someone this site does not trust")
}

// parseManifest decodes and checks a bundle manifest.
func parseManifest(body []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, failure.New(failure.Verify, "bundle manifest", err, "")
	}
	if m.Version != 1 {
		return nil, failure.New(failure.Verify, "bundle manifest", fmt.Errorf("version %d, this bakery reads version 1", m.Version), "")
	}
	if !slices.ContainsFunc(m.Objects, func(o Object) bool { return o.Role == RoleImage && o.Digest == m.Digest }) {
		return nil, failure.New(failure.Verify, "bundle manifest", fmt.Errorf("lists no image object for %s", m.Digest), "")
	}
	return &m, nil
}
