// Package attesttest forges the attestations that attest.Verify must reject
// or ignore.
// It is used by attest's unit tests and by the end-to-end tamper tests, like
// net/http/httptest: support for tests, never called by bakery itself.
package attesttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	ggcrmutate "github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/imagetest"
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

// TestResult is a test-result statement, as bakery records a suite run:
// suite of target in env ("" for the build's run) on platform, finished at
// finished, PASSED or, with failed tests, FAILED; about ref and, for a
// platform of an index, the platform image platformImage. Attach it with attest.Attach
// (signed with a trusted key, it is a result bakery would have made).
func TestResult(ref, platformImage name.Digest, target, suite, platform, env string, finished time.Time, failed ...string) (attest.Statement, error) {
	r := imagetest.Result{Result: imagetest.Passed, Configuration: []imagetest.ResourceDescriptor{{Name: suite + ".yaml"}},
		PassedTests: []string{"it runs"}, WarnedTests: []string{}, FailedTests: append([]string{}, failed...),
		Bakery: imagetest.Details{Suite: suite, Target: target, Platform: platform, Environment: env, Runner: "test",
			Started: finished.Add(-time.Second), Finished: finished}}
	if len(failed) > 0 {
		r.Result = imagetest.Failed
	}
	pred, err := json.Marshal(r)
	if err != nil {
		return attest.Statement{}, err
	}
	st := attest.Statement{PredicateType: imagetest.PredicateType, Subjects: []attest.Subject{attest.SubjectOf(ref)}, Predicate: pred, Platform: platform}
	if platform != "" && platformImage != ref {
		st.Subjects = append(st.Subjects, attest.SubjectOf(platformImage))
	}
	return st, nil
}

// DropAttestations rewrites ref's cosign attestation image (its .att tag)
// without the layers drop selects, as anyone with push rights to the
// repository can, and returns how many it dropped. drop sees each layer's
// statement: its predicate type and its subjects as name@sha256:hex.
func DropAttestations(ctx context.Context, ref name.Digest, drop func(predicateType string, subjects []string) bool) (int, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	tag := ref.Context().Tag(strings.Replace(ref.DigestStr(), ":", "-", 1) + ".att")
	img, err := remote.Image(tag, opts...)
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var keep []ggcrmutate.Addendum
	for i, l := range layers {
		pt, subjects, err := statementOf(l)
		if err != nil {
			return 0, err
		}
		if drop(pt, subjects) {
			continue
		}
		keep = append(keep, ggcrmutate.Addendum{Layer: l, Annotations: m.Layers[i].Annotations, MediaType: m.Layers[i].MediaType})
	}
	out, err := ggcrmutate.Append(ggcrmutate.MediaType(empty.Image, m.MediaType), keep...)
	if err != nil {
		return 0, err
	}
	return len(layers) - len(keep), remote.Write(tag, out, opts...)
}

// statementOf decodes the in-toto statement in an attestation layer.
func statementOf(l v1.Layer) (string, []string, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return "", nil, err
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", nil, err
	}
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return "", nil, err
	}
	var st struct {
		PredicateType string           `json:"predicateType"`
		Subject       []attest.Subject `json:"subject"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", nil, err
	}
	var subjects []string
	for _, s := range st.Subject {
		subjects = append(subjects, s.Name+"@sha256:"+s.Digest["sha256"])
	}
	return st.PredicateType, subjects, nil
}
