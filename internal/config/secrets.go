package config

import "github.com/bakeryhq/bakery/internal/env"

// SigningPassword returns the password of the signing key file from
// BAKERY_SIGNING_PASSWORD, or else COSIGN_PASSWORD (cosign's own variable).
// It is read here and nowhere else, and never stored in a Config.
func SigningPassword() []byte {
	for _, v := range []env.Variable{env.SigningPassword, env.CosignPassword} {
		if s, ok := env.LookupEnv(v); ok {
			return []byte(s)
		}
	}
	return nil
}
