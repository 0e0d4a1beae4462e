// Package attesttest forges the attestations that attest.Verify must reject.
// It is used by attest's unit tests and by the end-to-end tamper tests, like
// net/http/httptest: support for tests, never called by bakery itself.
package attesttest

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/bakeryhq/bakery/attest"
)

// AttachStatement signs st with signer (DSSE, payload type payloadType) and
// attaches it to ref with the layer annotation predicateType = claimedType.
// With claimedType == st.PredicateType and the in-toto payload type this is
// exactly what bakery writes; anything else is a forgery.
func AttachStatement(ctx context.Context, signer signature.Signer, ref name.Digest, st attest.Statement, claimedType, payloadType string) error {
	body, err := st.Marshal()
	if err != nil {
		return err
	}
	env, err := dsse.WrapSigner(signer, payloadType).SignMessage(bytes.NewReader(body))
	if err != nil {
		return err
	}
	att, err := static.NewAttestation(env,
		static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": claimedType}))
	if err != nil {
		return err
	}
	opts := []ociremote.Option{ociremote.WithRemoteOptions(remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))}
	se, err := mutate.AttachAttestationToEntity(ociremote.SignedUnknown(ref, opts...), att)
	if err != nil {
		return err
	}
	return ociremote.WriteAttestations(ref.Repository, se, opts...)
}

// SPDX returns a minimal SPDX statement about the given digests.
func SPDX(about ...name.Digest) attest.Statement {
	st := attest.Statement{PredicateType: attest.PredicateSPDX, Predicate: json.RawMessage(`{"spdxVersion":"SPDX-2.3","name":"forged"}`)}
	for _, d := range about {
		st.Subjects = append(st.Subjects, attest.SubjectOf(d))
	}
	return st
}
