//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuildExample bakes the bundled example on the real buildkitd and checks
// that the real registry holds exactly the digests bakery reported.
func TestBuildExample(t *testing.T) {
	ns := runID + "/example"
	meta := filepath.Join(t.TempDir(), "build.json")
	r := bakery(t, exampleEnv(ns),
		"build", "--config", filepath.Join(root, "examples/bakery.yaml"),
		"--progress", "rawjson", "--output", "json", "--metadata-file", meta)
	if r.code != 0 {
		t.Fatalf("bakery build exited %d", r.code)
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, r.stdout)
	}
	metaBytes, err := os.ReadFile(meta)
	if err != nil || string(metaBytes) != r.stdout {
		t.Errorf("--metadata-file differs from --output json (%v)", err)
	}
	// --progress rawjson streams BuildKit's solve status as JSON lines.
	progressLines := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var st struct{ Vertexes []struct{ Name string } }
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("rawjson progress line is not JSON: %q", line)
		}
		progressLines++
	}
	if progressLines == 0 {
		t.Error("no progress on stderr")
	}
	if len(out.Targets) != 4 {
		t.Fatalf("targets = %+v", out.Targets)
	}
	checkExampleChain(t, ns, out)

	for _, tgt := range out.Targets {
		repo := ns + "/" + tgt.Target
		if tgt.Repository != regAddr+"/"+repo {
			t.Errorf("%s: repository = %s", tgt.Target, tgt.Repository)
		}
		body, regDigest, status := manifest(t, repo, tgt.Digest)
		if status != 200 || regDigest != tgt.Digest || sha256Digest(body) != tgt.Digest {
			t.Fatalf("%s: registry has %s (status %d, body hashes to %s), bakery reported %s",
				tgt.Target, regDigest, status, sha256Digest(body), tgt.Digest)
		}
		_, tagDigest, _ := manifest(t, repo, "dev")
		if tagDigest != tgt.Digest || !slices.Equal(tgt.Tags, []string{"dev"}) {
			t.Errorf("%s: dev tag points at %s, want %s (tags %v)", tgt.Target, tagDigest, tgt.Digest, tgt.Tags)
		}
		if tgt.Kind == "machine-image" {
			checkMachineImageRecord(t, repo, tgt.Digest, body)
			if tgt.Builder.Name != "packer" || tgt.Builder.Version != "1.12.0" || !slices.Equal(tgt.Platforms, []string{"linux/amd64"}) {
				t.Errorf("%s: builder %+v platforms %v", tgt.Target, tgt.Builder, tgt.Platforms)
			}
			continue
		}
		if tgt.Builder.Name != "buildkit" || !strings.HasPrefix(tgt.Builder.Version, "v0.") || tgt.Size <= 0 {
			t.Errorf("%s: builder %+v size %d", tgt.Target, tgt.Builder, tgt.Size)
		}

		var m struct {
			MediaType string
			Manifests []struct {
				Digest      string
				Platform    struct{ OS, Architecture string }
				Annotations map[string]string
			}
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		var plats []string
		for _, d := range m.Manifests {
			if d.Annotations["vnd.docker.reference.type"] == "" {
				plats = append(plats, d.Platform.OS+"/"+d.Platform.Architecture)
			}
		}
		if m.MediaType != "application/vnd.oci.image.index.v1+json" || !slices.Equal(tgt.Platforms, plats) {
			t.Errorf("%s: mediaType %s, index platforms %v, reported %v", tgt.Target, m.MediaType, plats, tgt.Platforms)
		}
		switch tgt.Target {
		case "golden-base":
			if !slices.Equal(plats, []string{"linux/amd64"}) {
				t.Errorf("golden-base platforms %v", plats)
			}
			var im struct {
				Config struct{ Digest string }
				Layers []struct{ Size int64 }
			}
			imgBody, _, _ := manifest(t, repo, m.Manifests[0].Digest)
			if err := json.Unmarshal(imgBody, &im); err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Config struct {
					User   string
					Labels map[string]string
				}
				History []struct {
					CreatedBy string `json:"created_by"`
				}
			}
			blob(t, repo, im.Config.Digest, &cfg)
			if cfg.Config.User != "app" || cfg.Config.Labels["org.opencontainers.image.title"] != "golden-base" {
				t.Errorf("golden-base config: %+v", cfg.Config)
			}
			ranUseradd := slices.ContainsFunc(cfg.History, func(h struct {
				CreatedBy string `json:"created_by"`
			}) bool {
				return strings.HasPrefix(h.CreatedBy, "RUN") && strings.Contains(h.CreatedBy, "useradd")
			})
			if !ranUseradd || len(im.Layers) < 4 {
				t.Errorf("golden-base: RUN steps missing from history (%d layers)", len(im.Layers))
			}
		case "config-bundle":
			if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
				t.Errorf("config-bundle: platforms %v", plats)
			}
		case "app":
			if !slices.Equal(plats, []string{"linux/amd64"}) {
				t.Errorf("app platforms %v", plats)
			}
		default:
			t.Errorf("unexpected target %s", tgt.Target)
		}
	}
}

// exampleEnv points the example's first environment at namespace ns of the
// test registry; the app's BASE (target:golden-base) follows it.
func exampleEnv(ns string) []string {
	return []string{"BAKERY_ENVIRONMENTS_DEV_REPOSITORY=" + regAddr + "/" + ns}
}

// checkExampleChain: the app was built on the golden base of the same run
// (bakery ordered it after golden-base), so its base is current, and a
// second build with --if-outdated builds nothing.
func checkExampleChain(t *testing.T, ns string, out buildOutput) {
	t.Helper()
	cfg := filepath.Join(root, "examples/bakery.yaml")
	r := bakery(t, exampleEnv(ns), "outdated", "app", "--config", cfg, "-o", "json")
	var bases []struct {
		Image, Recorded string
		Stale           bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &bases); err != nil || r.code != 0 {
		t.Fatalf("outdated app: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	onBase := false
	for _, b := range bases {
		onBase = onBase || (b.Image == regAddr+"/"+ns+"/golden-base:dev" && !b.Stale)
	}
	if !onBase {
		t.Errorf("app's provenance does not name this run's golden-base as a current base: %+v", bases)
	}
	r = bakery(t, exampleEnv(ns), "build", "--if-outdated", "--config", cfg, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"targets": []`) || !strings.Contains(r.stderr, "every target is up to date") {
		t.Errorf("build --if-outdated right after a build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// logBlock reports whether lines are the progress printer's block of a
// failed step's log: a rule, " > [target] ...STEP:", the log, a rule.
// want is the rule, the header's prefix and suffix, the log, the rule.
func logBlock(lines, want []string) bool {
	if len(want) == 0 || len(lines) == 0 {
		return len(want) == len(lines)
	}
	if len(lines) != len(want)-1 {
		return false
	}
	header := strings.HasPrefix(lines[1], want[1]) && strings.HasSuffix(lines[1], want[2])
	return header && lines[0] == want[0] && slices.Equal(lines[2:], want[3:])
}

// TestBuildBadInput checks that each bad input gives one error line on
// stderr that names the target and the cause, the exit code of its class,
// and that nothing is pushed under the target's tag. With --progress quiet,
// a failing step's last log lines come before it (log), as buildx prints
// them, and nothing else does.
func TestBuildBadInput(t *testing.T) {
	const goodDockerfile = "ARG BASE\nFROM ${BASE}\nRUN echo ok > /ok\n"
	config := func(repo string) string {
		return fmt.Sprintf(`version: 1
targets:
  app:
    type: container
    context: app
    args:
      BASE: %s
environments:
  - name: dev
    repository: %s
    insecure: true
`, baseImg, repo)
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		repo  string // environment repository; default is this run's namespace
		args  []string
		code  int
		want  []string
		log   []string // the failing step's log block before the error line: what its lines start or end with
	}{
		{name: "dockerfile syntax error", code: 3,
			files: map[string]string{"app/Dockerfile": "ARG BASE\nFROM ${BASE}\nRUNN echo typo\n"},
			want:  []string{`target "app"`, "line 3", "unknown instruction: RUNN"}},
		{name: "failing RUN step", code: 3,
			files: map[string]string{"app/Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN echo starting && exit 7\n"},
			want:  []string{`target "app"`, "exit code: 7"},
			log:   []string{"------", " > [app] ", "RUN echo starting && exit 7:", "starting", "------"}},
		{name: "missing context directory", code: 2,
			files: map[string]string{"elsewhere/Dockerfile": goodDockerfile},
			want:  []string{`target "app"`, "context directory", "does not exist"}},
		{name: "unreachable buildkitd", code: 6,
			files: map[string]string{"app/Dockerfile": goodDockerfile},
			args:  []string{"--builder", "unix:///nonexistent/buildkitd.sock"},
			want:  []string{`target "app"`, "buildkitd at unix:///nonexistent/buildkitd.sock", "unreachable"}},
		{name: "unreachable registry", code: 6, repo: "127.0.0.1:5999/" + runID,
			files: map[string]string{"app/Dockerfile": goodDockerfile},
			want:  []string{`target "app"`, "registry 127.0.0.1:5999", "connection refused"}},
		{name: "bad config file", code: 2,
			files: map[string]string{"app/Dockerfile": goodDockerfile, "bakery.yaml": "version: 1\ntargets:\n  app:\n    type: container\n    platform: linux/amd64\n"},
			want:  []string{"bakery.yaml:5:", "targets.app.platform: unknown key", "platforms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			repo := tc.repo
			if repo == "" {
				repo = regAddr + "/" + runID + "/" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			}
			files := map[string]string{"bakery.yaml": config(repo)}
			for k, v := range tc.files {
				files[k] = v
			}
			writeFiles(t, dir, files)
			args := append([]string{"build", "--config", filepath.Join(dir, "bakery.yaml"), "--progress", "quiet"}, tc.args...)
			r := bakery(t, nil, args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d", r.code, tc.code)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if !logBlock(lines[:len(lines)-1], tc.log) || !strings.HasPrefix(lines[len(lines)-1], "error: ") {
				t.Errorf("want %q then one error line on stderr, got %q", tc.log, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if strings.HasPrefix(repo, regAddr+"/") {
				if got := tags(t, strings.TrimPrefix(repo, regAddr+"/")+"/app"); len(got) != 0 {
					t.Errorf("tags pushed despite the failure: %v", got)
				}
			}
		})
	}
}
