package attest

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
)

// StatementType is the in-toto Statement version bakery writes.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto Statement about one or more digests.
type Statement struct {
	PredicateType string
	Subjects      []Subject
	Predicate     json.RawMessage
	// Platform is reported in Attached, not written in the Statement.
	Platform string
}

// Subject is an in-toto statement subject: a name and its digests.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// SubjectOf is the subject naming ref: its repository and sha256 digest.
func SubjectOf(ref name.Digest) Subject {
	h := digestOf(ref)
	return Subject{Name: ref.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}
}

// Marshal encodes the statement as in-toto v1 JSON.
func (s Statement) Marshal() ([]byte, error) {
	return json.Marshal(struct {
		Type          string          `json:"_type"`
		PredicateType string          `json:"predicateType"`
		Subject       []Subject       `json:"subject"`
		Predicate     json.RawMessage `json:"predicate"`
	}{StatementType, s.PredicateType, s.Subjects, s.Predicate})
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
