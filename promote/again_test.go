package promote

import (
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/config"
)

// TestPromoteAgainCarriesNewEvidence: staging already runs the digest, but
// its copy there is denied now (the target gained a suite since, whose
// results only the source holds). Promoting again judges the source, copies
// the new results and signs a new receipt, rather than refusing on the old
// copy; the next run is a no-op again.
func TestPromoteAgainCarriesNewEvidence(t *testing.T) {
	f := newFixture(t)
	d := f.buildAndPromote(t)
	f.cfg.Targets["app"].Tests = []config.Test{{Name: "smoke", File: "smoke.yaml"}}
	staging := &f.cfg.Environments[1]
	staging.Policies = append(staging.Policies, "tested")
	at := time.Now().Add(-time.Minute)
	f.attachTest(t, d, "app", "smoke", "linux/amd64", "", at)
	f.attachTest(t, d, "app", "smoke", "linux/arm64", "", at)

	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err != nil || res.AlreadyPromoted || !res.Receipt || res.Copy == nil || res.Decision == nil || !res.Decision.Allowed {
		t.Fatalf("promote again after a suite was added: %+v %v; want a new allowed promotion that copies the results", res, err)
	}
	if res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"}); err != nil || !res.AlreadyPromoted {
		t.Errorf("a third run: %+v %v, want already promoted", res, err)
	}

	// A source that lacks the evidence too is denied, and nothing moves.
	f.cfg.Targets["app"].Tests = append(f.cfg.Targets["app"].Tests, config.Test{Name: "soak", File: "soak.yaml"})
	res, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging"})
	if err == nil || res == nil || res.AlreadyPromoted || res.Receipt || res.Decision == nil || res.Decision.Allowed {
		t.Errorf("promote again with a suite nobody ran: %+v %v, want denied, no receipt", res, err)
	}
}
