package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/failure"
)

func TestBundleCommandsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "app"}, "--env ENV and --out FILE are required"},
		{[]string{"export"}, "takes 1 argument(s), got 0"},
		{[]string{"import", "b.tar"}, "--to ENV is required"},
		{[]string{"verify", "--bundle", "b.tar", "127.0.0.1:5000/x/app:dev"}, "takes 0 argument(s), got 1"},
		{[]string{"verify", "--bundle", filepath.Join(t.TempDir(), "missing.tar"), "--key", "k.pub"}, "k.pub"},
	} {
		_, err := run(t, tc.args...)
		if failure.ClassOf(err) != failure.Config || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: class %v, err %v, want exit 2 and %q", tc.args, failure.ClassOf(err), err, tc.want)
		}
	}
	for cmd, wants := range map[string][]string{
		"export": {"bakery export golden-base --env prod --out golden-base.tar", "--disk", "--progress", "signed with signing.key"},
		"import": {"bakery import golden-base.tar --to prod", "--force", "import receipt"},
		"verify": {"verify --bundle golden-base.tar", "never from the keys in the bundle"},
	} {
		out, err := run(t, cmd, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q", cmd, w)
			}
		}
	}
}

// TestVerifyBundleNotATar: anything but a bundle is a verification failure
// that says so, in one line.
func TestVerifyBundleNotATar(t *testing.T) {
	dir := t.TempDir()
	_, pub, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.tar")
	if err := os.WriteFile(junk, []byte("this is not a tar archive, not even close, and it goes on for a while to fill a header block"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "verify", "--bundle", junk, "--key", pub)
	if failure.ClassOf(err) != failure.Verify || !strings.Contains(err.Error(), "truncated or not a tar") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v (class %v)", err, failure.ClassOf(err))
	}
}
