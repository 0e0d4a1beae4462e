package attest

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
)

// StatementType is the in-toto statement version bakery writes.
const StatementType = "https://in-toto.io/Statement/v1"

// statement is an in-toto statement about one or more digests.
type statement struct {
	PredicateType string
	Subjects      []subject
	Predicate     json.RawMessage
	// Platform is recorded in the Record, not in the statement.
	Platform string
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

func subjectOf(ref name.Digest) subject {
	h := digestOf(ref)
	return subject{Name: ref.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}
}

func (s statement) marshal() ([]byte, error) {
	return json.Marshal(struct {
		Type          string          `json:"_type"`
		PredicateType string          `json:"predicateType"`
		Subject       []subject       `json:"subject"`
		Predicate     json.RawMessage `json:"predicate"`
	}{StatementType, s.PredicateType, s.Subjects, s.Predicate})
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
