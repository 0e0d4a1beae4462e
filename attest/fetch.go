package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// What verification reads from a registry, and what it remembers.
//
// A digest's signatures and attestations are the layers of two cosign
// images in the digest's repository (tags sha256-<hex>.sig and .att). Their
// manifests are read on every verification: they say what is attached to
// the digest in that repository now. Their layers are blobs, named by the
// SHA-256 of their bytes, which go-containerregistry checks as it reads
// them. So what a layer says, and which trusted keys signed it, is a fact
// about the digest alone: bakery checks it once per process and remembers
// it (memo). Verifying a digest again (at the destination of a copy, in
// another environment's repository, in history) costs the three manifest
// reads and no blob, no signature check and no decoding: the manifests'
// layer digests are matched against what was already checked.

// MaxAttestationBytes bounds one signature or attestation layer bakery
// reads. A layer whose descriptor says more is refused before a byte of it
// is read; a layer is read into a buffer of the size its descriptor says,
// and one byte more is an error. bakery's SBOM envelopes are a few MB;
// decoding one takes about three times its size in memory at once.
var MaxAttestationBytes int64 = 64 << 20

// MaxMemoBytes bounds the layer bytes the process remembers; past it,
// layers are checked again when read again.
var MaxMemoBytes int64 = 512 << 20

// attached is what is attached to one digest in one repository.
type attached struct {
	platforms []PlatformImage
	sigs      []v1.Descriptor
	atts      []v1.Descriptor
}

// readAttached reads ref's manifest (for its platforms) and its cosign
// signature and attestation manifests, concurrently. sigs=false reads the
// attestations only.
func readAttached(ctx context.Context, ref name.Digest, sigs bool) (*attached, error) {
	got := &attached{}
	g, gctx := errgroup.WithContext(ctx)
	if sigs {
		g.Go(func() error {
			desc, err := remote.Get(ref, registry.Options(gctx)...)
			if err != nil {
				return failure.New(classify(err), ref.String(), err, "")
			}
			got.platforms, err = platformImages(desc)
			return err
		})
		g.Go(func() error {
			var err error
			got.sigs, err = cosignLayers(gctx, ref, ociremote.SignatureTag)
			return err
		})
	}
	g.Go(func() error {
		var err error
		got.atts, err = cosignLayers(gctx, ref, ociremote.AttestationTag)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(got.atts) > MaxAttestations {
		return nil, failure.New(failure.Verify, ref.String(), fmt.Errorf("%d attestations, more than the %d bakery reads", len(got.atts), MaxAttestations),
			"someone with push rights is flooding this digest: remove the junk from its .att tag, or do not deploy it")
	}
	return got, nil
}

// cosignLayers lists the layers of ref's cosign image named by tagOf; none
// when there is none.
func cosignLayers(ctx context.Context, ref name.Digest, tagOf func(name.Reference, ...ociremote.Option) (name.Tag, error)) ([]v1.Descriptor, error) {
	tag, err := tagOf(ref)
	if err != nil {
		return nil, failure.New(failure.Internal, ref.String(), err, "")
	}
	desc, err := remote.Get(tag, registry.Options(ctx)...)
	if registry.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, failure.New(classify(err), tag.String(), err, "")
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, failure.New(failure.Verify, tag.String(), fmt.Errorf("not an image manifest: %w", err), "")
	}
	return m.Layers, nil
}

// platformImages lists the platform images of an index (BuildKit's
// attestation manifests excluded); none for a single image.
func platformImages(desc *remote.Descriptor) ([]PlatformImage, error) {
	if !desc.MediaType.IsIndex() {
		return nil, nil // the image itself: every counted attestation is about it
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, err
	}
	var out []PlatformImage
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || registry.IsAttestationManifest(m) {
			continue
		}
		p := "unknown"
		if m.Platform != nil {
			p = m.Platform.String()
		}
		out = append(out, PlatformImage{Platform: p, Digest: m.Digest.String()})
	}
	return out, nil
}

// fetchLayer reads one layer blob of repo: refused from its descriptor's
// size when that is over MaxAttestationBytes, then read into a buffer of that
// size; a blob longer than its descriptor says, or whose bytes do not hash to
// its digest (go-containerregistry checks as it reads), is failure.Verify.
func fetchLayer(ctx context.Context, repo name.Repository, d v1.Descriptor) ([]byte, error) {
	subject := repo.String() + "@" + d.Digest.String()
	if d.Size > MaxAttestationBytes || d.Size < 0 {
		return nil, failure.New(failure.Verify, subject,
			fmt.Errorf("its descriptor says %d bytes, more than the %d bakery reads", d.Size, MaxAttestationBytes),
			"someone with push rights attached an oversized layer: remove it, or do not deploy this image")
	}
	l, err := remote.Layer(repo.Digest(d.Digest.String()), registry.Options(ctx)...)
	if err != nil {
		return nil, registry.Classify(subject, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, registry.Classify(subject, err)
	}
	defer rc.Close()
	b := make([]byte, d.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the registry served fewer bytes than the descriptor's %d", registry.ErrWrongSize, d.Size)
		}
		return nil, registry.Classify(subject, err)
	}
	// The read at the end is where go-containerregistry compares the digest.
	var one [1]byte
	switch n, err := rc.Read(one[:]); {
	case n > 0:
		return nil, registry.Classify(subject, fmt.Errorf("%w: the registry served more bytes than the descriptor's %d", registry.ErrWrongSize, d.Size))
	case err != nil && !errors.Is(err, io.EOF):
		return nil, registry.Classify(subject, err)
	}
	return b, nil
}

// checkedAttestation is what an attestation layer's bytes say, and which
// trusted keys signed them.
type checkedAttestation struct {
	info AttestationInfo // PredicateType, Subjects, Predicate
	bad  error           // not a DSSE envelope of an in-toto statement
	keys []string        // ids of the trusted keys whose signature verifies
}

// checkAttestation checks the attestation layer d once per process: it
// decodes the envelope and the statement once, and verifies the envelope
// with each key as cosign does (verifiesDSSE).
func checkAttestation(ctx context.Context, repo name.Repository, d v1.Descriptor, keys []TrustedKey) (*checkedAttestation, error) {
	v, err := memo.do("att|"+d.Digest.String()+"|"+keyIDs(keys), func() (any, int64, error) {
		layer, err := fetchLayer(ctx, repo, d)
		if err != nil {
			return nil, 0, err
		}
		c := &checkedAttestation{}
		e, err := readEnvelope(layer)
		if err != nil {
			c.bad = fmt.Errorf("not a DSSE envelope: %w", err)
			return c, int64(len(layer)), nil
		}
		c.info, c.bad = readPayload(e)
		for _, k := range keys {
			if verifiesDSSE(ctx, k, e) {
				c.keys = append(c.keys, k.ID)
			}
		}
		return c, int64(len(layer)), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*checkedAttestation), nil
}

// checkedSignature is what a simple-signing payload says, and which trusted
// keys made the signature over it.
type checkedSignature struct {
	digest   string // the docker-manifest-digest it signs
	signedAt string
	keys     []string
}

// checkSignature checks the signature layer d (payload blob, base64
// signature annotation) once per process, as cosign does: the signature
// verifies over the payload with the key, and the payload names a digest.
func checkSignature(ctx context.Context, repo name.Repository, d v1.Descriptor, keys []TrustedKey) (*checkedSignature, error) {
	b64 := d.Annotations[static.SignatureAnnotationKey]
	v, err := memo.do("sig|"+d.Digest.String()+"|"+b64+"|"+keyIDs(keys), func() (any, int64, error) {
		payload, err := fetchLayer(ctx, repo, d)
		if err != nil {
			return nil, 0, err
		}
		c := &checkedSignature{}
		var ss struct {
			Critical struct {
				Image struct {
					DockerManifestDigest string `json:"docker-manifest-digest"`
				} `json:"image"`
			} `json:"critical"`
			Optional map[string]any `json:"optional"`
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || json.Unmarshal(payload, &ss) != nil {
			return c, int64(len(payload)), nil // signs nothing bakery can read
		}
		c.digest = ss.Critical.Image.DockerManifestDigest
		c.signedAt, _ = ss.Optional[AnnotationSignedAt].(string)
		for _, k := range keys {
			if k.Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload), options.WithContext(ctx)) == nil {
				c.keys = append(c.keys, k.ID)
			}
		}
		return c, int64(len(payload)), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*checkedSignature), nil
}

func keyIDs(keys []TrustedKey) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// verifiesDSSE reports whether a signature of the envelope verifies with
// k, as cosign checks an attestation: the DSSE library's envelope verifier
// (dsse.EnvelopeVerifier.Verify) over sigstore's verifier for the key. It
// is that algorithm, without the library's copies of a megabytes-long
// payload (the base64 string, the decoded body, and PAE(type, body)): the
// signature is checked over PAE streamed from the body decoded once.
// TestVerifiesDSSEAgreesWithTheLibrary holds the two together.
//
// As the library does: every signature must be base64 (standard or URL),
// a signature whose keyid names another key (its SSH SHA-256 fingerprint)
// is skipped, and one signature that verifies is enough.
func verifiesDSSE(ctx context.Context, k TrustedKey, e *envelope) bool {
	if e.bodyErr != nil || len(e.signatures) == 0 {
		return false
	}
	pub, err := k.Verifier.PublicKey()
	if err != nil {
		return false
	}
	keyID, err := ssldsse.SHA256KeyID(pub)
	if err != nil {
		keyID = ""
	}
	sigs := make([][]byte, len(e.signatures))
	for i, s := range e.signatures {
		if sigs[i], err = base64.StdEncoding.DecodeString(s.Sig); err != nil {
			if sigs[i], err = base64.URLEncoding.DecodeString(s.Sig); err != nil {
				return false
			}
		}
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d ", len(e.payloadType), e.payloadType, len(e.body))
	for i, s := range e.signatures {
		if s.KeyID != "" && keyID != "" && s.KeyID != keyID {
			continue
		}
		msg := io.MultiReader(strings.NewReader(pae), bytes.NewReader(e.body))
		if k.Verifier.VerifySignature(bytes.NewReader(sigs[i]), msg, options.WithContext(ctx)) == nil {
			return true
		}
	}
	return false
}

// envelope is a DSSE envelope as bakery reads one: its payload decoded
// from base64 once.
type envelope struct {
	payloadType string
	body        []byte // the payload decoded
	bodyErr     error  // why the payload is not standard base64
	signatures  []ssldsse.Signature
}

// readStatement reads a DSSE envelope of an in-toto statement.
func readStatement(layer []byte) (AttestationInfo, error) {
	e, err := readEnvelope(layer)
	if err != nil {
		return AttestationInfo{}, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	return readPayload(e)
}

// readEnvelope reads a DSSE envelope.
func readEnvelope(data []byte) (*envelope, error) {
	e := &envelope{}
	err := readMembers(data, map[string]func(*jsontext.Decoder) error{
		"payloadType": readString(&e.payloadType),
		"payload":     readBase64(&e.body, &e.bodyErr),
		"signatures":  readValue(&e.signatures),
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// readBase64 reads a string member holding standard base64 and decodes it
// into dst, from the JSON bytes themselves when the string has no escape.
// A string that is not base64 is not an error of the JSON: it goes to bad.
func readBase64(dst *[]byte, bad *error) func(*jsontext.Decoder) error {
	return func(d *jsontext.Decoder) error {
		v, err := d.ReadValue() // void after the next read: decoded before it
		if err != nil {
			return err
		}
		if v.Kind() != '"' {
			return fmt.Errorf("is %s, not a string", v.Kind())
		}
		raw := []byte(v[1 : len(v)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			if raw, err = jsontext.AppendUnquote(nil, v); err != nil {
				return err
			}
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		n, err := base64.StdEncoding.Decode(out, raw)
		if err != nil {
			*bad = fmt.Errorf("payload is not base64: %w", err)
			return nil
		}
		*dst = out[:n]
		return nil
	}
}

// readMembers reads a JSON object, handing each member that read names to
// its function and skipping the others. An SBOM statement is megabytes of
// JSON: this reads it in one pass of jsontext's scanner (encoding/json's
// Unmarshal scans it twice, once to validate and once to decode), and it is
// strict where encoding/json is lenient: names match exactly, a duplicate
// name, invalid UTF-8 or anything after the object is an error.
func readMembers(data []byte, read map[string]func(*jsontext.Decoder) error) error {
	d := jsontext.NewDecoder(bytes.NewBuffer(data)) // a Buffer is read in place, not copied
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return errors.Join(errors.New("not a JSON object"), err)
	}
	for d.PeekKind() == '"' {
		t, err := d.ReadToken()
		if err != nil {
			return err
		}
		name := t.String() // t is void after the next read
		if f, ok := read[name]; ok {
			err = f(d)
		} else {
			err = d.SkipValue()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if t, err := d.ReadToken(); err != nil || t.Kind() != '}' {
		return errors.Join(errors.New("not a JSON object"), err)
	}
	if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// readString reads a string member into dst.
func readString(dst *string) func(*jsontext.Decoder) error {
	return func(d *jsontext.Decoder) error {
		t, err := d.ReadToken()
		if err != nil {
			return err
		}
		if t.Kind() != '"' {
			return fmt.Errorf("is %s, not a string", t.Kind())
		}
		*dst = t.String()
		return nil
	}
}

// readValue decodes a (small) member into dst with encoding/json.
func readValue(dst any) func(*jsontext.Decoder) error {
	return func(d *jsontext.Decoder) error {
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		return json.Unmarshal(v, dst)
	}
}

// readPayload reads a DSSE payload that must be an in-toto statement. The
// predicate it returns is a slice of e.body, which nothing writes to.
func readPayload(e *envelope) (AttestationInfo, error) {
	var info AttestationInfo
	if e.payloadType != types.IntotoPayloadType {
		return info, fmt.Errorf("payload type %q is not %q", e.payloadType, types.IntotoPayloadType)
	}
	if e.bodyErr != nil {
		return info, e.bodyErr
	}
	var st struct {
		PredicateType string
		Subject       []Subject
		Predicate     json.RawMessage
	}
	err := readMembers(e.body, map[string]func(*jsontext.Decoder) error{
		"predicateType": readString(&st.PredicateType),
		"subject":       readValue(&st.Subject),
		"predicate": func(d *jsontext.Decoder) error {
			v, err := d.ReadValue()
			if err != nil {
				return err
			}
			// The value as it is in the body, where it ends: no copy.
			end := int(d.InputOffset())
			if end < len(v) || end > len(e.body) || !bytes.Equal(e.body[end-len(v):end], v) {
				st.Predicate = append(json.RawMessage(nil), v...)
				return nil
			}
			st.Predicate = json.RawMessage(e.body[end-len(v) : end : end])
			return nil
		},
	})
	if err != nil {
		return info, fmt.Errorf("payload is not an in-toto statement: %w", err)
	}
	if len(st.Predicate) == 0 || string(st.Predicate) == "null" {
		return info, errors.New("empty predicate")
	}
	info.PredicateType, info.Predicate = st.PredicateType, st.Predicate
	for _, s := range st.Subject {
		info.Subjects = append(info.Subjects, s.Name+"@sha256:"+s.Digest["sha256"])
	}
	return info, nil
}

// checkStatement is readStatement, and the predicate type must be the one
// the layer's annotation claims.
func checkStatement(env []byte, claimed string) (AttestationInfo, error) {
	info, err := readStatement(env)
	if err != nil {
		return info, err
	}
	if claimed != info.PredicateType {
		return info, fmt.Errorf("claims predicate type %q but its statement is %q", claimed, info.PredicateType)
	}
	return info, nil
}

// memo remembers, for the process, what checking a content-addressed layer
// found; concurrent checks of one layer wait for the first. A failed read
// (an outage) is not remembered.
var memo = &memory{m: map[string]*memoCall{}}

type memory struct {
	mu    sync.Mutex
	m     map[string]*memoCall
	bytes int64
}

type memoCall struct {
	done chan struct{}
	val  any
	err  error
}

func (m *memory) do(key string, compute func() (any, int64, error)) (any, error) {
	for {
		m.mu.Lock()
		c, ok := m.m[key]
		if !ok {
			c = &memoCall{done: make(chan struct{})}
			m.m[key] = c
			m.mu.Unlock()
			var size int64
			c.val, size, c.err = compute()
			m.mu.Lock()
			if c.err != nil || m.bytes+size > MaxMemoBytes {
				delete(m.m, key)
			} else {
				m.bytes += size
			}
			m.mu.Unlock()
			close(c.done)
			return c.val, c.err
		}
		m.mu.Unlock()
		<-c.done
		if c.err == nil {
			return c.val, nil
		}
		// The first reader failed (its registry call, or its context): read again.
	}
}
