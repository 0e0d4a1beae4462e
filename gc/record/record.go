// Package record keeps the signed log of bakery gc: what each run deleted
// from a target's repository in an environment, by whom, under which rules,
// and the receipts the deleted digests held, so that `bakery history` shows
// a deleted digest as deleted, not as missing.
//
// Where it lives: in the repository it describes, at REPOSITORY:bakery-gc, an
// OCI image whose one layer is a DSSE envelope of an in-toto statement
// (predicate type PredicateType) listing every run, oldest first. It doubles
// as gc's journal: a run is written as started, with everything it is about
// to delete, before the first deletion, and as done after the last, so a run
// that was killed half-way is finished by the next one (the registry has no
// way to list the untagged manifests it left). Only a log that a trusted key
// signed counts: one forged in a repository anyone can push to is ignored and
// named, never honoured.
package record

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/policies"
)

const (
	// PredicateType is the in-toto predicate type of a gc log.
	PredicateType = "https://github.com/bakeryhq/bakery/gc/v1"
	// Tag is the log's tag in the repository it describes.
	Tag = "bakery-gc"

	// Started is a run that has begun deleting.
	Started = "started"
	// Done is a run that finished.
	Done = "done"
)

// Kinds of what a run deletes.
const (
	KindImage        = "image"
	KindIndex        = "index"
	KindMachineImage = "machine image"
	KindPlatform     = "platform image"
	KindAttachments  = "attachments"
	KindOrphan       = "orphaned attachments"
)

// Log is every gc run of one repository, oldest first.
type Log struct {
	Runs []Run `json:"runs"`
}

// Run is one gc run's deletions in one repository.
type Run struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	Repository  string `json:"repository"`
	// Time is when the run started; Finished when it was done.
	Time     string `json:"time"`
	Finished string `json:"finished,omitempty"`
	State    string `json:"state"`
	// By is the signing key's id, and the user who ran bakery when known.
	By    string `json:"by"`
	Rules Rules  `json:"rules"`
	// Deleted lists the manifests in the order they are deleted:
	// attachments before what they are attached to.
	Deleted []Deletion `json:"deleted"`
	// AMIs are the machine images deregistered, with their snapshots.
	AMIs []AMI `json:"amis,omitempty"`
}

// Rules are the retention settings a run applied in its environment.
type Rules struct {
	RollbackWindow int    `json:"rollbackWindow"`
	MinAge         string `json:"minAge"`
}

// Deletion is one manifest a run deletes.
type Deletion struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"`
	// Subject is the digest an attachment or platform image belongs to.
	Subject string   `json:"subject,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Reason  string   `json:"reason"`
	// Receipts are the verified receipts the digest held in the
	// environment when it was deleted.
	Receipts []Receipt `json:"receipts,omitempty"`
}

// Receipt is a verified receipt a deleted digest held, as the log keeps it.
type Receipt struct {
	Environment string `json:"environment"`
	Time        string `json:"time"`
	KeyID       string `json:"keyId"`
	Result      string `json:"result"`
	Action      string `json:"action"`
	Replaced    string `json:"replaced,omitempty"`
	From        string `json:"from,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Actor       string `json:"actor,omitempty"`
}

// Receipts are rs as the log keeps them.
func Receipts(rs []policies.Receipt) []Receipt {
	var out []Receipt
	for _, r := range rs {
		out = append(out, Receipt{Environment: r.Environment, Time: r.Time, KeyID: r.KeyID, Result: r.Result, Action: r.Action,
			Replaced: r.Replaced, From: r.From, Reason: r.Reason, Actor: r.Actor})
	}
	return out
}

// Policy is r as policies and history read a receipt, for target's digest
// in repository.
func (r Receipt) Policy(target, repository, digest string) policies.Receipt {
	return policies.Receipt{Target: target, Repository: repository, Environment: r.Environment, Digest: digest, Time: r.Time,
		KeyID: r.KeyID, Result: r.Result, Action: r.Action, Replaced: r.Replaced, From: r.From, Reason: r.Reason, Actor: r.Actor}
}

// AMI is one machine image copy a run deregisters.
type AMI struct {
	Digest    string   `json:"digest"`
	Region    string   `json:"region"`
	ID        string   `json:"ami"`
	Snapshots []string `json:"snapshots,omitempty"`
}

// Location is the log of repo.
func Location(repo name.Repository) name.Tag { return repo.Tag(Tag) }

// Read returns repo's log: empty when there is none, an error wrapping
// attest.ErrUntrusted when one is there that no trusted key signed.
func Read(ctx context.Context, repo name.Repository, keys []attest.TrustedKey) (*Log, error) {
	env, err := attest.ReadRecord(ctx, Location(repo))
	if err != nil || env == nil {
		return &Log{}, err
	}
	var l Log
	if err := attest.OpenRecord(env, keys, PredicateType, &l); err != nil {
		return &Log{}, fmt.Errorf("%s: not a gc log: %w", Location(repo), err)
	}
	for _, r := range l.Runs { // a signed log copied from another repository
		if r.Repository != repo.String() {
			return &Log{}, fmt.Errorf("%s: not this repository's gc log: a run of %s", Location(repo), r.Repository)
		}
	}
	return &l, nil
}

// Write signs l and writes it to repo, returning the digest of the log's
// manifest (gc deletes the version it replaces).
func Write(ctx context.Context, repo name.Repository, signer signature.Signer, l *Log) (string, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	env, err := attest.SealRecord(signer, repo.String(), h.Hex, PredicateType, l)
	if err != nil {
		return "", err
	}
	return attest.PushRecord(ctx, Location(repo), env)
}

// Pending are the runs that started and never finished.
func (l *Log) Pending() []*Run {
	var out []*Run
	for i := range l.Runs {
		if l.Runs[i].State == Started {
			out = append(out, &l.Runs[i])
		}
	}
	return out
}
