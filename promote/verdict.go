package promote

import (
	"context"
	"errors"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/revoke"
)

// Verdict is what bakery says about one digest: computed in one place
// (Assess) and worded in one place (Word, Err), so that verify, inspect,
// status, report and the Packer data source never disagree about it.
type Verdict struct {
	// Verified is true only when a trusted key signed the digest, every
	// required attestation verified, and no revocation is in force for the
	// digest or for any base in its lineage (revoke.Lineage).
	Verified bool `json:"verified"`
	// Revocation is the revocation in force; its Cause names the revoked
	// ancestor when it reaches the digest through its lineage.
	Revocation *revoke.Entry `json:"revocation,omitempty"`
	// Problem says in one line why Verified is false.
	Problem string `json:"problem,omitempty"`
}

// Assess is the verdict on a verification (rep and verr, as attest.Verify
// returned them) under the revocation lists of lin (nil: none were read).
// An unreachable registry is the error; every other failure is in the
// Verdict.
func Assess(ctx context.Context, lin *revoke.Lineage, rep *attest.Report, verr error) (Verdict, error) {
	if failure.ClassOf(verr) == failure.Unavailable {
		return Verdict{}, verr
	}
	v := Verdict{Verified: verr == nil && rep != nil}
	if verr != nil {
		v.Problem = problemOf(verr)
	}
	if rep == nil || lin == nil {
		return v, nil
	}
	e, revoked, err := lin.Check(ctx, rep, time.Now())
	switch {
	case failure.ClassOf(err) == failure.Unavailable:
		return v, err
	case err != nil:
		v.Verified, v.Problem = false, problemOf(err)
	case revoked:
		v.Verified, v.Revocation, v.Problem = false, &e, e.Describe()
	}
	return v, nil
}

// Word is the verdict in one word: Verified, REVOKED or FAILED.
func (v Verdict) Word() string {
	switch {
	case v.Revocation != nil:
		return "REVOKED"
	case v.Verified:
		return "Verified"
	default:
		return "FAILED"
	}
}

// Err is the verdict as an error about subject: nil when verified,
// otherwise failure.Verify (exit 4) with the one wording of the problem.
func (v Verdict) Err(subject string) error {
	switch {
	case v.Verified:
		return nil
	case v.Revocation != nil:
		return failure.New(failure.Verify, subject, errors.New(v.Revocation.Describe()),
			"do not run it: roll back to an earlier digest or promote a fix; bakery status --check names the rollback")
	default:
		return failure.New(failure.Verify, subject, errors.New(v.Problem), "")
	}
}

// problemOf is an error's message without its subject.
func problemOf(err error) string {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Err != nil {
		return fe.Err.Error()
	}
	return err.Error()
}
