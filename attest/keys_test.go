package attest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

func TestKeysGenerateLoadAndNeverLeakThePassword(t *testing.T) {
	ctx := context.Background()
	prefix := filepath.Join(t.TempDir(), "keys", "bakery")
	const password = "correct-horse-battery-staple"
	priv, pub, err := attest.GenerateKeys(prefix, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v (%v)", st.Mode(), err)
	}
	pem, _ := os.ReadFile(priv)
	if !strings.Contains(string(pem), "ENCRYPTED SIGSTORE PRIVATE KEY") || strings.Contains(string(pem), password) {
		t.Error("private key is not an encrypted cosign key")
	}
	if _, _, err := attest.GenerateKeys(prefix, []byte(password)); failure.ClassOf(err) != failure.Config {
		t.Errorf("overwrote existing keys: %v", err)
	}
	sv, err := attest.LoadSigner(ctx, priv, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	id, err := attest.KeyID(sv)
	if err != nil || id != keys[0].ID || len(id) != 16 {
		t.Errorf("key ids: signer %q, public %q (%v)", id, keys[0].ID, err)
	}

	_, err = attest.LoadSigner(ctx, priv, []byte("wrong-"+password))
	if failure.ClassOf(err) != failure.Config || strings.Contains(err.Error(), password) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := attest.LoadSigner(ctx, filepath.Join(t.TempDir(), "none.key"), nil); failure.ClassOf(err) != failure.Config {
		t.Errorf("missing key: %v", err)
	}
	if _, err := attest.LoadSigner(ctx, "", nil); failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "signing.key") {
		t.Errorf("no key: %v", err)
	}
	if _, err := attest.NewTrustedKeys(ctx, nil); failure.ClassOf(err) != failure.Config {
		t.Errorf("no trusted keys: %v", err)
	}
}

func TestKMSReferences(t *testing.T) {
	for _, ref := range []string{"awskms:///alias/bakery", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "hashivault://bakery", "azurekms://vault.vault.azure.net/bakery"} {
		if !attest.IsKMS(ref) {
			t.Errorf("IsKMS(%q) = false", ref)
		}
	}
	if attest.IsKMS("keys/cosign.key") {
		t.Error("a file is not KMS")
	}
	// A KMS key goes through sigstore's registered provider: hashivault is
	// registered, and with no Vault reachable loading fails at once as
	// "unavailable", naming the key.
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_TOKEN", "test")
	_, err := attest.LoadSigner(context.Background(), "hashivault://bakery", nil)
	if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "hashivault://bakery") || !strings.Contains(err.Error(), "KMS") {
		t.Errorf("hashivault: %v", err)
	}
}

func TestKeylessIsRefusedNotReplaced(t *testing.T) {
	_, err := attest.SignerFor(context.Background(), config.Signing{Keyless: &config.Keyless{FulcioURL: "https://fulcio.example"}}, nil)
	if !errors.Is(err, attest.ErrKeylessUnsupported) || failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "https://fulcio.example") {
		t.Fatalf("err = %v", err)
	}
}
