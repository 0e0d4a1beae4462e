//go:build e2e

// Package e2e runs bakery's binary against the real services `make up`
// starts: buildkitd (OCI worker, runc) and Debian's distribution registry.
// Nothing is skipped: when the services are not running the suite fails.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/promote/amis/ec2local"
)

var (
	root    string // repository root
	bin     string // the bakery binary under test
	regAddr string // the real registry, host:port
	bkAddr  string // buildkitd's address
	runID   = fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	baseImg string
	httpc   = &http.Client{Timeout: 30 * time.Second}
	cosign  string // the stock cosign CLI, built by hack/setup.sh at go.mod's version
	crane   string // the stock crane CLI, built by hack/setup.sh
	keyDir  string // trusted.key/.pub made by `bakery keys generate`, and other.key/.pub
	packer  string // the real packer binary, built by hack/setup.sh
	rootfs  string // the debootstrap'd Debian rootfs tarball hack/setup.sh made
	// ec2 is the local EC2 endpoint every bakery and packer run talks to.
	ec2    *ec2local.Server
	ec2URL string
	// toolEnv points bakery at packer, a fresh plugin directory and ec2.
	toolEnv []string
)

// signingPassword is the trusted key's password; tests check it never leaks.
const signingPassword = "pw-e2e-3b1f9c7d"

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(filepath.Dir(bin))
	os.Exit(code)
}

// awsEnv is the AWS SDK configuration of the tests: static test credentials,
// the local EC2 endpoint, and no shared files or instance metadata, so
// nothing on the machine running the tests can leak in.
func awsEnv(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIAE2ETEST", "AWS_SECRET_ACCESS_KEY=e2e-secret",
		"AWS_CONFIG_FILE=/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=",
	}
}

func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root = filepath.Dir(wd)
	regAddr = getenv("BAKERY_REGISTRY_ADDR", "127.0.0.1:5000")
	bkAddr = getenv("BAKERY_BUILDER_ADDRESS", "unix://"+filepath.Join(root, ".bakery/buildkit/buildkitd.sock"))
	baseImg = regAddr + "/base/debian:bookworm"
	resp, err := httpc.Get("http://" + regAddr + "/v2/")
	if err != nil {
		return fmt.Errorf("the registry on %s is not running (%w): run `make up` first", regAddr, err)
	}
	resp.Body.Close()
	if sock := strings.TrimPrefix(bkAddr, "unix://"); strings.HasPrefix(bkAddr, "unix://") {
		if _, err := os.Stat(sock); err != nil {
			return fmt.Errorf("buildkitd is not running at %s: run `make up` first", bkAddr)
		}
	}
	dir, err := os.MkdirTemp("", "bakery-e2e")
	if err != nil {
		return err
	}
	bin = filepath.Join(dir, "bakery")
	// bakery (the front) runs bakery-core next to itself, which finds the
	// Packer plugin next to itself: the layout of make build and the archive.
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/bakery", "./cmd/bakery-core", "./cmd/packer-plugin-bakery")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	packer = getenv("BAKERY_PACKER", filepath.Join(root, ".bakery/packer"))
	rootfs = filepath.Join(root, ".bakery/rootfs/debian-bookworm-minbase-amd64.tar.gz")
	for _, p := range []string{packer, rootfs} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run `make up` first", p)
		}
	}
	ec2 = ec2local.New()
	srv := httptest.NewServer(ec2)
	ec2URL = srv.URL
	toolEnv = append(awsEnv(srv.URL),
		"BAKERY_BUILDER_PACKER_BINARY="+packer,
		"BAKERY_BUILDER_PACKER_PLUGIN_DIR="+filepath.Join(dir, "packer-plugins"))
	crane = getenv("BAKERY_CRANE", filepath.Join(root, ".bakery/crane"))
	if _, err := os.Stat(crane); err != nil {
		return fmt.Errorf("the stock crane CLI is missing at %s: run `make up` first", crane)
	}
	cosign = getenv("BAKERY_COSIGN", filepath.Join(root, ".bakery/cosign"))
	if _, err := os.Stat(cosign); err != nil {
		return fmt.Errorf("the stock cosign CLI is missing at %s: run `make up` first", cosign)
	}
	keyDir = filepath.Join(dir, "keys")
	for name, pw := range map[string]string{"trusted": signingPassword, "other": ""} {
		gen := exec.Command(bin, "keys", "generate", "--output-prefix", filepath.Join(keyDir, name))
		gen.Env = append(os.Environ(), "BAKERY_SIGNING_PASSWORD="+pw)
		if out, err := gen.CombinedOutput(); err != nil {
			return fmt.Errorf("bakery keys generate: %w\n%s", err, out)
		}
	}
	return nil
}

// signingEnv makes bakery sign with the trusted key and trust only it.
func signingEnv() []string {
	return []string{
		"BAKERY_SIGNING_KEY=" + filepath.Join(keyDir, "trusted.key"),
		"BAKERY_SIGNING_PASSWORD=" + signingPassword,
		"BAKERY_VERIFICATION_KEYS=" + filepath.Join(keyDir, "trusted.pub"),
	}
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// result is one run of the bakery binary.
type result struct {
	stdout, stderr string
	code           int
}

// bakery runs the binary with the builder address and extra environment set.
func bakery(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(append(append(os.Environ(), "BAKERY_BUILDER_ADDRESS="+bkAddr), toolEnv...), signingEnv()...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running bakery: %v", err)
	}
	t.Logf("bakery %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	checkJSON(t, args, r)
	return r
}

// manifest fetches repo's manifest at ref (tag or digest) from the real
// registry and returns the body and the digest the registry reports.
func manifest(t *testing.T, repo, ref string) (body []byte, digest string, status int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", regAddr, repo, ref), nil)
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
	}, ","))
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp.Header.Get("Docker-Content-Digest"), resp.StatusCode
}

func blob(t *testing.T, repo, digest string, v any) {
	t.Helper()
	resp, err := httpc.Get(fmt.Sprintf("http://%s/v2/%s/blobs/%s", regAddr, repo, digest))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("blob %s@%s: %s", repo, digest, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// tags lists repo's tags in the real registry (none when the repository does not exist).
func tags(t *testing.T, repo string) []string {
	t.Helper()
	resp, err := httpc.Get(fmt.Sprintf("http://%s/v2/%s/tags/list", regAddr, repo))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var list struct{ Tags []string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list.Tags
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// buildOutput mirrors `bakery build --output json`.
type buildOutput struct {
	Targets []struct {
		Target     string   `json:"target"`
		Kind       string   `json:"kind"`
		Repository string   `json:"repository"`
		Digest     string   `json:"digest"`
		MediaType  string   `json:"mediaType"`
		Platforms  []string `json:"platforms"`
		Size       int64    `json:"size"`
		Tags       []string `json:"tags"`
		Builder    struct{ Name, Version string }
		Unchanged  bool `json:"unchanged"`
	} `json:"targets"`
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headStatus returns the status of a manifest HEAD on a registry.
func headStatus(t *testing.T, host, repo, ref string) int {
	t.Helper()
	code, _ := headManifest(t, host, repo, ref)
	return code
}

// headManifest HEADs a manifest on a registry: the status and the digest.
func headManifest(t *testing.T, host, repo, ref string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, ref), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Docker-Content-Digest")
}

// errorText is the error a failed run printed: the "error" of the JSON
// object -o json prints on stderr, else stderr's last line (a failed build
// step's log comes before it, as buildx prints it).
func errorText(t *testing.T, r result) string {
	t.Helper()
	s := strings.TrimSpace(r.stderr)
	if strings.HasPrefix(s, "{") {
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Fatalf("stderr is not one JSON error: %v\n%s", err, s)
		}
		return e.Error
	}
	return s[strings.LastIndex(s, "\n")+1:]
}
