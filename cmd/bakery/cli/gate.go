package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
)

// gate is what promote, rollback, history, status and policy eval share:
// the site (config, trusted keys, signing key) and the policies, compiled
// once.
type gate struct {
	*site
	engine *policies.Engine
}

// keyOrigin names where the trusted keys come from, for their errors: --key
// when it was given (it replaces verification.keys), else verification.keys.
func keyOrigin(flagKeys []string) string {
	if len(flagKeys) > 0 {
		return attest.FromFlag
	}
	return attest.FromConfig
}

func (ro *rootOptions) gate(cmd *cobra.Command) (*gate, error) {
	s, err := ro.site(cmd)
	if err != nil {
		return nil, err
	}
	cfg := s.cfg
	engine, err := policies.Compile(cmd.Context(), cfg.Policy.Dirs)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, n := range engine.Names() {
		known[n] = true
	}
	for _, env := range cfg.Environments {
		for _, p := range env.Policies {
			if !known[p] {
				return nil, failure.New(failure.Config, fmt.Sprintf("%s: environment %s", cfg.File, env.Name),
					fmt.Errorf("unknown policy %q", p), "known policies: "+strings.Join(engine.Names(), ", "))
			}
		}
	}
	return &gate{site: s, engine: engine}, nil
}

// gateFor validates the shared options, requires --env, and builds the gate.
func (ro *rootOptions) gateFor(cmd *cobra.Command, env string) (*gate, error) {
	if err := ro.validate(); err != nil {
		return nil, err
	}
	if env == "" {
		return nil, usageError("--env ENV is required")
	}
	return ro.gate(cmd)
}

// decider returns a Promoter that only decides: it loads no signing key.
func (g *gate) decider() *promote.Promoter {
	return promote.New(promote.Options{Config: g.cfg, Verifier: g.verifier, Policies: g.engine})
}

// promoter returns a Promoter whose signing key is decrypted in the
// background (scrypt takes a third of a second), while the digest is verified.
func (g *gate) promoter(ctx context.Context, version string) *promote.Promoter {
	return promote.New(promote.Options{Config: g.cfg, Verifier: g.verifier, Policies: g.engine, Version: version,
		Signer: g.pendingSigner(ctx)})
}

// amiList prints region=ami pairs in region order, or "-".
func amiList(amis map[string]string) string {
	if len(amis) == 0 {
		return "-"
	}
	regions := make([]string, 0, len(amis))
	for r := range amis {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for i, r := range regions {
		regions[i] = r + "=" + amis[r]
	}
	return strings.Join(regions, ",")
}
