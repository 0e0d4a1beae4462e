package cli

import (
	"context"
	"sync"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
)

// site is what one command run knows of the site it works on: the config,
// the Verifier of its trusted keys and its signing key. A command builds one
// and hands its pieces down, so that trust is loaded in one place: the keys
// once (trust), the signing key once and only when something is signed
// (signer), as ggcr hands one set of options to every call.
type site struct {
	cfg *config.Config
	// verifier is set once trust has loaded it.
	verifier *attest.Verifier
	// origin is where the trusted keys come from, for their errors.
	origin string

	trustOnce sync.Once
	trustErr  error
	signOnce  sync.Once
	pending   *attest.PendingSigner
}

// newSite is the site of cfg; nothing is loaded yet.
func (ro *rootOptions) newSite(cfg *config.Config) *site {
	return &site{cfg: cfg, origin: keyOrigin(ro.keys)}
}

// site loads the config (flags overriding it), bounds the command by
// registry.timeout and loads the trusted keys.
func (ro *rootOptions) site(cmd *cobra.Command) (*site, error) {
	cfg, err := ro.load(cmd)
	if err != nil {
		return nil, err
	}
	s := ro.newSite(cfg)
	if _, err := s.trust(ro.bound(cmd, cfg)); err != nil {
		return nil, err
	}
	return s, nil
}

// trust loads the trusted keys (--key, else verification.keys) the first
// time it is called, and returns the Verifier of them.
func (s *site) trust(ctx context.Context) (*attest.Verifier, error) {
	s.trustOnce.Do(func() {
		s.verifier, s.trustErr = attest.NewVerifier(ctx, s.origin, s.cfg.Verification.Keys)
	})
	return s.verifier, s.trustErr
}

// pendingSigner starts loading the signing key (signing.key, decrypted with
// the configured password) in the background the first time it is called:
// decrypting takes a third of a second, spent meanwhile on verifying.
func (s *site) pendingSigner(ctx context.Context) *attest.PendingSigner {
	s.signOnce.Do(func() {
		s.pending = attest.LoadSignerAsync(func() (signature.SignerVerifier, error) {
			return attest.SignerFor(ctx, s.cfg.Signing, config.SigningPassword())
		})
	})
	return s.pending
}

// signer waits for the signing key.
func (s *site) signer(ctx context.Context) (signature.SignerVerifier, error) {
	return s.pendingSigner(ctx).Get(ctx)
}
