package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

func newKeys(ro *rootOptions) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage signing keys"}
	var prefix string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Write a cosign-compatible encrypted key pair",
		Long: `Write PREFIX.key (an encrypted cosign private key, mode 0600) and PREFIX.pub.
The password comes from BAKERY_SIGNING_PASSWORD or COSIGN_PASSWORD, or is
asked for on a terminal. Point signing.key at the .key file and
verification.keys at the .pub file; the stock cosign CLI reads both.`,
		Example: `  BAKERY_SIGNING_PASSWORD=... bakery keys generate --output-prefix keys/bakery
  cosign verify --key keys/bakery.pub --insecure-ignore-tlog IMAGE@DIGEST`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			pw, err := keyPassword()
			if err != nil {
				return err
			}
			priv, pub, err := attest.GenerateKeys(prefix, pw)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), keysJSON{PrivateKey: priv, PublicKey: pub})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Private key written to %s\nPublic key written to %s\n", priv, pub)
			return nil
		},
	}
	gen.Flags().StringVar(&prefix, "output-prefix", "cosign", "path prefix of the key files")
	keys.AddCommand(gen)
	return keys
}

// keysJSON is keys generate -o json: the files written.
type keysJSON struct {
	PrivateKey string `json:"privateKey"`
	PublicKey  string `json:"publicKey"`
}

// keyPassword reads the password from the environment, or twice from a terminal.
func keyPassword() ([]byte, error) {
	if pw := config.SigningPassword(); pw != nil {
		return pw, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, failure.New(failure.Config, "key password", errors.New("not set"),
			"set BAKERY_SIGNING_PASSWORD (or COSIGN_PASSWORD); it may be empty")
	}
	fmt.Fprint(os.Stderr, "Enter password for private key: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(os.Stderr, "Enter password for private key again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, failure.New(failure.Config, "key password", errors.New("the passwords do not match"), "try again")
	}
	return a, nil
}
