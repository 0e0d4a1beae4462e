package attest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

// TestUnsetPasswordIsNotCalledWrong: an encrypted key with no password set
// (nil, as config.SigningPassword returns with both variables unset) says the
// password is not set and how to set it; a wrong one says it is wrong.
func TestUnsetPasswordIsNotCalledWrong(t *testing.T) {
	ctx := context.Background()
	priv, _, err := attest.GenerateKeys(filepath.Join(t.TempDir(), "bakery"), []byte("s3cret-pw"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = attest.LoadSigner(ctx, priv, nil)
	if failure.ClassOf(err) != failure.Config {
		t.Fatalf("unset password: class %v: %v", failure.ClassOf(err), err)
	}
	msg := err.Error()
	for _, want := range []string{priv, "encrypted", "BAKERY_SIGNING_PASSWORD is not set", "export BAKERY_SIGNING_PASSWORD"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unset password: %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "decrypt") || strings.Contains(msg, "wrong") || strings.Contains(msg, "\n") {
		t.Errorf("unset password blamed on a wrong one, or not one line: %q", msg)
	}

	_, err = attest.LoadSigner(ctx, priv, []byte("not-it"))
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "wrong password") || strings.Contains(err.Error(), "not set") {
		t.Errorf("wrong password: %v", err)
	}
}

// TestKeyErrorsNameWhereTheKeyCameFrom: a bad --key is blamed on --key, a bad
// entry of verification.keys on verification.keys.
func TestKeyErrorsNameWhereTheKeyCameFrom(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "nope.pub")
	for origin, notWant := range map[string]string{attest.FromFlag: "verification.keys", attest.FromConfig: "--key"} {
		_, err := attest.NewTrustedKeysFrom(ctx, origin, []string{missing})
		if failure.ClassOf(err) != failure.Config {
			t.Fatalf("%s: class %v: %v", origin, failure.ClassOf(err), err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, origin+" "+missing+": ") || !strings.Contains(msg, "not found") || strings.Contains(msg, notWant) {
			t.Errorf("%s: %q", origin, msg)
		}
	}
	if _, err := attest.NewTrustedKeys(ctx, []string{missing}); err == nil || !strings.Contains(err.Error(), "verification.keys") {
		t.Errorf("NewTrustedKeys: %v", err)
	}
}
