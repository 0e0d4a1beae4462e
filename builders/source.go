package builders

import (
	"context"
	"os/exec"
	"strings"
)

// Source is the version-control state of a build's inputs.
type Source struct {
	URI    string `json:"uri,omitempty"`
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
}

// GitSource describes the git checkout dir lives in, or returns nil when dir
// is not in a git work tree (or git is not installed).
func GitSource(ctx context.Context, dir string) *Source {
	git := func(args ...string) (string, bool) {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		return strings.TrimSpace(string(out)), err == nil
	}
	commit, ok := git("rev-parse", "HEAD")
	if !ok {
		return nil
	}
	status, _ := git("status", "--porcelain", "--untracked-files=no")
	uri, _ := git("config", "--get", "remote.origin.url")
	if uri != "" {
		uri = "git+" + uri
	}
	return &Source{URI: uri, Commit: commit, Dirty: status != ""}
}
