package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	controlapi "github.com/moby/buildkit/api/services/control"
	apitypes "github.com/moby/buildkit/api/types"
	"google.golang.org/grpc"
)

// goModVersion is the version bakery's go.mod requires of module path.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	t.Fatalf("go.mod requires no %s", path)
	return ""
}

func runVersionJSON(t *testing.T, args ...string) versions {
	t.Helper()
	out, err := run(t, append([]string{"version", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	var v versions
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, out)
	}
	return v
}

// linkedAsGoModSays makes the command read the libraries' versions go.mod
// requires, as a bakery binary's build information has them (a test
// binary's has no dependencies).
func linkedAsGoModSays(t *testing.T) {
	t.Helper()
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/bakeryhq/bakery", Version: "(devel)"}}
	for _, path := range []string{buildkitModule, syftModule, cosignModule} {
		bi.Deps = append(bi.Deps, &debug.Module{Path: path, Version: goModVersion(t, path)})
	}
	saved := buildInfo
	buildInfo = func() *debug.BuildInfo { return bi }
	t.Cleanup(func() { buildInfo = saved })
}

func TestVersionNamesTheLinkedLibrariesAndAnUnreachableBuilder(t *testing.T) {
	linkedAsGoModSays(t)
	dir := t.TempDir()
	addr := "unix://" + filepath.Join(dir, "absent.sock")
	v := runVersionJSON(t, "--config", filepath.Join(dir, "missing.yaml"), "--builder", addr)
	if v.Bakery != "test" || v.Go != runtime.Version() {
		t.Errorf("bakery %q go %q, want test and %s", v.Bakery, v.Go, runtime.Version())
	}
	for name, got := range map[string]string{buildkitModule: v.BuildKit.Client, syftModule: v.Syft, cosignModule: v.Cosign} {
		if want := goModVersion(t, name); got != want {
			t.Errorf("%s: %q, want go.mod's %q", name, got, want)
		}
	}
	s := v.BuildKit.Server
	if s.Reachable || s.Address != addr || s.Error == "" || s.Version != "" {
		t.Errorf("server = %+v, want unreachable at %s with its error", s, addr)
	}
	out, err := run(t, "version", "--config", filepath.Join(dir, "missing.yaml"), "--builder", addr)
	if err != nil || !strings.Contains(out, "not reachable at "+addr) || !strings.Contains(out, goModVersion(t, cosignModule)) {
		t.Errorf("version: err %v\n%s", err, out)
	}
	out, err = run(t, "version", "--config", filepath.Join(dir, "missing.yaml"))
	if err != nil || !strings.Contains(out, "not reachable: no builder address: ") {
		t.Errorf("version without config or --builder: err %v\n%s", err, out)
	}
	if out, err := run(t, "--version"); err != nil || !strings.Contains(out, "test") {
		t.Errorf("--version: err %v, %q", err, out)
	}
}

// fakeControl answers Info as buildkitd does.
type fakeControl struct {
	controlapi.UnimplementedControlServer
}

func (fakeControl) Info(context.Context, *controlapi.InfoRequest) (*controlapi.InfoResponse, error) {
	return &controlapi.InfoResponse{BuildkitVersion: &apitypes.BuildkitVersion{
		Package: "github.com/moby/buildkit", Version: "v9.8.7", Revision: "h1:fake",
	}}, nil
}

func TestVersionAsksTheConfiguredBuildkitd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "buildkitd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	controlapi.RegisterControlServer(srv, fakeControl{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	cfg := filepath.Join(dir, "bakery.yaml")
	yaml := "version: 1\nbuilder:\n  address: unix://" + sock + "\ntargets:\n  web:\n    type: container\n    context: .\n" +
		"environments:\n  - name: dev\n    repository: 127.0.0.1:5000/dev\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := runVersionJSON(t, "--config", cfg).BuildKit.Server
	if !s.Reachable || s.Version != "v9.8.7" || s.Revision != "h1:fake" || s.Address != "unix://"+sock {
		t.Errorf("server = %+v, want buildkitd's v9.8.7 h1:fake at %s", s, sock)
	}
}

func TestModuleVersionReadsReplacements(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/bakeryhq/bakery", Version: "v1.2.3"}, Deps: []*debug.Module{
		{Path: syftModule, Version: "v1.0.0"},
		{Path: cosignModule, Version: "v2.0.0", Replace: &debug.Module{Path: "example.org/cosign", Version: "v2.0.1"}},
		{Path: buildkitModule, Version: "v0.1.0", Replace: &debug.Module{Path: "../buildkit"}},
	}}
	v := libraryVersions("dev", bi)
	want := versions{Bakery: "v1.2.3", Go: runtime.Version(), Syft: "v1.0.0", Cosign: "v2.0.1 (example.org/cosign)",
		BuildKit: buildkitVersion{Client: "v0.1.0 (replaced by ../buildkit)"}}
	if v != want {
		t.Errorf("libraryVersions = %+v, want %+v", v, want)
	}
	if v := libraryVersions("v9", bi); v.Bakery != "v9" {
		t.Errorf("an -X main.version was overridden: %q", v.Bakery)
	}
	if v := libraryVersions("dev", nil); v.Syft != "unknown" || v.Bakery != "dev" {
		t.Errorf("without build info: %+v", v)
	}
}
