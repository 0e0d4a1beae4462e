package promote

import (
	"context"
	"fmt"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/receipt"
)

// Pin is a rollback that holds an environment away from a digest: the
// digest was rolled back out of the environment, and nothing has put it
// there since. A promotion into the environment refuses a pinned-out digest
// unless the digest is named (Request.Digest) with a reason; that promotion's
// receipt ends the pin. The environment's verified history alone says so,
// so every machine that promotes sees the same pins.
type Pin struct {
	Target      string `json:"target"`
	Environment string `json:"environment"`
	// Digest is the digest rolled back out.
	Digest string `json:"digest"`
	// To is the digest the rollback went to; Time, KeyID and Reason are the
	// rollback receipt's.
	To     string `json:"to"`
	Time   string `json:"time"`
	KeyID  string `json:"keyId"`
	Reason string `json:"reason,omitempty"`
}

// Describe says in one line what the pin is.
func (p Pin) Describe() string {
	s := fmt.Sprintf("%s was rolled back out of %s at %s (to %s, receipt signed by %s", p.Digest, p.Environment, p.Time, p.To, p.KeyID)
	if p.Reason != "" {
		s += fmt.Sprintf(", reason %q", p.Reason)
	}
	return s + ")"
}

// pinOf finds in hist (an environment's history, oldest first) the rollback
// that holds the environment away from digest: the newest PASSED receipt
// that names digest, as the digest it placed or as the digest a rollback
// replaced (its From), is a rollback away from it.
func pinOf(hist []Entry, digest string) (Pin, bool) {
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		switch {
		case h.Result != receipt.Passed:
		case h.Digest == digest:
			return Pin{}, false // put back there since
		case h.Action == receipt.ActionRollback && h.From == digest:
			return Pin{Target: h.Target, Environment: h.Environment, Digest: digest, To: h.Digest,
				Time: h.Time, KeyID: h.KeyID, Reason: h.Reason}, true
		}
	}
	return Pin{}, false
}

// Pinned reads env's verified history for target and returns the pin that
// holds env away from digest, or nil.
func (p *Promoter) Pinned(ctx context.Context, target string, env *config.Environment, digest string) (*Pin, error) {
	hist, err := History(ctx, p.opts.Verifier, target, env)
	if err != nil {
		return nil, err
	}
	if pin, ok := pinOf(hist, digest); ok {
		return &pin, nil
	}
	return nil, nil
}

// explicit says req names its digest itself (--digest), rather than taking
// it from a tag or a build's metadata file.
func (req Request) explicit() bool { return req.Digest != "" && !req.fromBuild }

// holds refuses the promotion of digest into env when a rollback pinned it
// out, unless the request names the digest and gives a reason.
func (p *Promoter) holds(ctx context.Context, req Request, env *config.Environment, digest string) error {
	pin, err := p.Pinned(ctx, req.Target, env, digest)
	if err != nil || pin == nil {
		return err
	}
	return pinError(req, *pin)
}

// pinError is the refusal of req by pin, or nil when req overrides it.
func pinError(req Request, pin Pin) error {
	subject := fmt.Sprintf("promotion of %s into %s", req.Target, pin.Environment)
	bring := fmt.Sprintf("bakery promote %s --to %s --digest %s --reason '…'", req.Target, pin.Environment, pin.Digest)
	switch {
	case !req.explicit():
		return failure.New(failure.Policy, subject, fmt.Errorf("a rollback holds: %s", pin.Describe()),
			"nothing was copied or tagged; to bring it back on purpose: "+bring)
	case req.Reason == "":
		return failure.New(failure.Config, subject, fmt.Errorf("--digest names a digest a rollback holds out: %s", pin.Describe()),
			"say why it returns: "+bring)
	}
	return nil
}
