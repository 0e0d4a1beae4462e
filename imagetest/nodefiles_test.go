package imagetest

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/failure"
)

// mapReader is a FileReader over a map of resolved paths.
type mapReader struct {
	files map[string]PathInfo
	data  map[string]string
	err   error
	reads int
}

func (m *mapReader) ReadPath(_ context.Context, p string, content bool, most int64) (PathInfo, []byte, error) {
	m.reads++
	if m.err != nil {
		return PathInfo{}, nil, m.err
	}
	if p == "/loop" {
		return PathInfo{}, nil, &AbsentError{Why: "too many levels of symbolic links"}
	}
	info, ok := m.files[p]
	if !ok {
		return PathInfo{}, nil, &AbsentError{Why: "no such file or directory"}
	}
	var data []byte
	if content {
		data = []byte(m.data[p])
		data = data[:min(int64(len(data)), most+1)]
	}
	return info, data, nil
}

// TestFileTestsThroughAReader: the file tests judge what a FileReader says
// as they judge an image's layers: modes (setuid included, written as Go's
// FileMode writes it, as container-structure-test does), owners, absent
// paths with the reader's reason, contents, and a content past maxOutput.
func TestFileTestsThroughAReader(t *testing.T) {
	yes, no := true, false
	zero, app := 0, 10001
	s := &Suite{Name: "s", MaxOutput: 8,
		FileExistenceTests: []FileExistenceTest{
			{Name: "tool", Path: "/usr/bin/tool", ShouldExist: &yes, Permissions: "urwxr-xr-x", Uid: &zero},
			{Name: "home", Path: "/srv/app/", ShouldExist: &yes, Permissions: "drwxr-x---", Uid: &app},
			{Name: "no sshd", Path: "/usr/sbin/sshd", ShouldExist: &no},
			{Name: "wrong owner", Path: "/usr/bin/tool", Uid: &app},
			{Name: "loop", Path: "/loop", ShouldExist: &yes},
		},
		FileContentTests: []FileContentTest{
			{Name: "umask", Path: "/etc/umask", ExpectedContents: []string{"^umask 027"}},
			{Name: "big", Path: "/big", ExpectedContents: []string{"x"}},
		},
	}
	r := &mapReader{
		files: map[string]PathInfo{
			"/usr/bin/tool": {Mode: 0o755 | fs.ModeSetuid},
			"/srv/app":      {Mode: 0o750 | fs.ModeDir, UID: 10001, GID: 10001},
			"/etc/umask":    {Mode: 0o644, Size: 10},
			"/big":          {Mode: 0o644, Size: 100},
		},
		data: map[string]string{"/etc/umask": "umask 027\n", "/big": strings.Repeat("x", 100)},
	}
	out, err := checkFilesOn(context.Background(), s, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]outcome{}
	for _, o := range out {
		got[o.name] = o
	}
	for name, want := range map[string]Verdict{"tool": Passed, "home": Passed, "no sshd": Passed, "wrong owner": Failed, "loop": Failed, "umask": Failed, "big": Failed} {
		if got[name].verdict != want {
			t.Errorf("%s: %s %v, want %s", name, got[name].verdict, got[name].reasons, want)
		}
	}
	if !strings.Contains(strings.Join(got["loop"].reasons, ""), "too many levels") || !strings.Contains(strings.Join(got["big"].reasons, ""), "maxOutput") {
		t.Errorf("reasons: loop %v, big %v", got["loop"].reasons, got["big"].reasons)
	}
	if r.reads != 6 {
		t.Errorf("%d reads, want one per distinct path (6)", r.reads)
	}
	// umask with maxOutput 8 is cut too: raise it and it passes.
	s.MaxOutput = 64
	if out, _ := checkFilesOn(context.Background(), s, r, nil); out[5].verdict != Passed {
		t.Errorf("umask with room: %s %v", out[5].verdict, out[5].reasons)
	}
	r.err = errors.New("node gone")
	if _, err := checkFilesOn(context.Background(), s, r, nil); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("a reader that fails: %v, want unavailable", err)
	}
}
