package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// A signed record is how bakery keeps a list of its own in the registry
// (the revocation list, the gc log): an OCI image whose one layer is a DSSE
// envelope of an in-toto statement, signed by bakery's key. Anyone may push
// to the tag; only a record that a trusted key signed counts.

// envelopeLayer is the media type of the record's one layer.
const envelopeLayer = types.MediaType("application/vnd.dsse.envelope.v1+json")

// ErrUntrusted says a record is not signed by a trusted key, or not of the
// predicate type asked for.
var ErrUntrusted = errors.New("not signed by a trusted key")

// SealRecord signs an in-toto statement of predicateType about subject
// (name, sha256 hex) holding predicate, as a DSSE envelope.
func SealRecord(signer signature.Signer, subject, subjectHex, predicateType string, predicate any) ([]byte, error) {
	body, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": subject, "digest": map[string]string{"sha256": subjectHex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		return nil, err
	}
	envelope, err := dsse.WrapSigner(signer, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(body))
	if err != nil {
		return nil, failure.New(failure.Internal, subject, fmt.Errorf("signing: %w", err), "")
	}
	return envelope, nil
}

// OpenRecord verifies envelope with any of keys and decodes its predicate
// of predicateType into predicate.
func OpenRecord(envelope []byte, keys []TrustedKey, predicateType string, predicate any) error {
	verified := false
	for _, k := range keys {
		if dsse.WrapVerifier(k.Verifier).VerifySignature(bytes.NewReader(envelope), nil) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return ErrUntrusted
	}
	var e struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(envelope, &e); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	body, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	var st struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.PredicateType != predicateType {
		return fmt.Errorf("%w: predicate type %q", ErrUntrusted, st.PredicateType)
	}
	if err := json.Unmarshal(st.Predicate, predicate); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return nil
}

// RecordImage is the image that carries envelope.
func RecordImage(envelope []byte) (v1.Image, error) {
	return mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), static.NewLayer(envelope, envelopeLayer))
}

// PushRecord writes the image carrying envelope to loc and returns its
// manifest's digest.
func PushRecord(ctx context.Context, loc name.Tag, envelope []byte) (string, error) {
	img, err := RecordImage(envelope)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	if err := remote.Write(loc, img, registry.Options(ctx)...); err != nil {
		return "", registry.Classify(loc.String(), err)
	}
	return d.String(), nil
}

// ReadRecord returns the envelope of the record at loc; nil when there is
// none. A record of another shape is ErrUntrusted.
func ReadRecord(ctx context.Context, loc name.Tag) ([]byte, error) {
	img, err := remote.Image(loc, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, nil
		}
		return nil, registry.Classify(loc.String(), err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, registry.Classify(loc.String(), err)
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%w: %d layers, want 1", ErrUntrusted, len(layers))
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, registry.Classify(loc.String(), err)
	}
	defer rc.Close()
	env, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, registry.Classify(loc.String(), err)
	}
	return env, nil
}
