package config

import "os"

// SigningPassword returns the password of the signing key file from
// BAKERY_SIGNING_PASSWORD, or else COSIGN_PASSWORD (cosign's own variable).
// It is read here and nowhere else, and never stored in a Config.
func SigningPassword() []byte {
	for _, k := range []string{EnvPrefix + "_SIGNING_PASSWORD", "COSIGN_PASSWORD"} {
		if v, ok := os.LookupEnv(k); ok {
			return []byte(v)
		}
	}
	return nil
}
