package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCodesAreDistinct(t *testing.T) {
	seen := map[int]Class{}
	for _, c := range []Class{Internal, Config, Build, Verify, Policy, Unavailable, Conflict, Deploy} {
		code := c.ExitCode()
		if code == 0 {
			t.Errorf("%v exits 0", c)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("%v and %v share exit code %d", c, other, code)
		}
		seen[code] = c
	}
}

func TestClassOfWrappedAndJoined(t *testing.T) {
	base := New(Unavailable, "registry r", errors.New("connection refused"), "start it")
	wrapped := fmt.Errorf("pushing: %w", base)
	if got := ClassOf(wrapped); got != Unavailable {
		t.Errorf("ClassOf(wrapped) = %v", got)
	}
	joined := errors.Join(New(Build, "target a", errors.New("x"), ""), base)
	if got := ClassOf(joined); got != Build {
		t.Errorf("ClassOf(joined) = %v, want the first class", got)
	}
	if got := ClassOf(errors.New("plain")); got != Internal {
		t.Errorf("ClassOf(plain) = %v", got)
	}
}

func TestErrorIsOneLine(t *testing.T) {
	e := New(Build, `target "web"`, errors.New("failed to solve:\n\n  process \"/bin/sh -c exit 1\"\n did not complete"), "see above")
	want := `target "web": failed to solve:: process "/bin/sh -c exit 1": did not complete (see above)`
	if e.Error() != want {
		t.Errorf("got  %q\nwant %q", e.Error(), want)
	}
}

func TestDeploy(t *testing.T) {
	if Deploy.ExitCode() != 8 || Deploy.String() != "deploy" {
		t.Errorf("Deploy: exit %d, %q", Deploy.ExitCode(), Deploy.String())
	}
	err := fmt.Errorf("wait: %w", New(Deploy, "refresh of web-prod", errors.New("RollbackSuccessful"), ""))
	if ClassOf(err) != Deploy {
		t.Errorf("ClassOf = %v", ClassOf(err))
	}
}
