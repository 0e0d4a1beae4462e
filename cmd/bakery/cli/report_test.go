package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/schemacheck"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/report"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "--out DIR is required"},
		{[]string{"report", "--out", t.TempDir(), "--parallel", "0"}, "--parallel must be at least 1"},
		{[]string{"report", "--out", t.TempDir(), "-o", "yaml"}, `--output: unknown format "yaml"`},
	} {
		_, err := run(t, tc.args...)
		if failure.ClassOf(err).ExitCode() != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: class %v, err %v, want exit 2 and %q", tc.args, failure.ClassOf(err), err, tc.want)
		}
	}
	out, err := run(t, "report", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bakery report --out report/", "--env", "report.json", "exits 4", "fetch nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("report --help lacks %q", want)
		}
	}
}

// TestReportVulnerabilitiesJSON: report -o json lists each cell's
// vulnerabilities in short (schema), "unscanned" for a digest without a
// scan; the digest's page has its findings table.
func TestReportVulnerabilitiesJSON(t *testing.T) {
	ctx := context.Background()
	host := bakerytest.NewRegistry(t).Host
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "bakery"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewTrustedKeys(ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	file, err := vulntest.Write(filepath.Join(dir, "db"), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-0201", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	digests := map[string]string{}
	for _, target := range []string{"app", "api"} {
		ref := diffImage(t, host, signer, target, map[string]string{"libc6": "2.36-9+deb12u7"})
		if err := receipt.SignBuild(ctx, signer, ref, target, "dev", "test"); err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(ref.Context().Tag("dev"), desc); err != nil {
			t.Fatal(err)
		}
		digests[target] = ref.DigestStr()
		if target == "api" {
			continue // unscanned
		}
		rep, err := attest.Trusting(keys).Verify(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		scans, err := db.ScanReport(ctx, rep, target, "dev")
		if err != nil {
			t.Fatal(err)
		}
		if err := vuln.Record(ctx, signer, keys, ref, scans); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "bakery.yaml")
	yaml := "version: 1\ntargets:\n  app:\n    type: container\n    context: .\n  api:\n    type: container\n    context: .\n" +
		"environments:\n  - name: dev\n    repository: " + host + "/dev\n    insecure: true\n" +
		"verification:\n  keys: [bakery.pub]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	stdout, err := run(t, "report", "--config", cfg, "--out", out, "-o", "json")
	if err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if err := schemacheck.Validate(repoRoot, "report", []byte(stdout)); err != nil {
		t.Errorf("%v\n%s", err, stdout)
	}
	var sum struct{ Vulnerabilities []cellVulns }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(sum.Vulnerabilities)
	want := fmt.Sprint([]cellVulns{
		{Target: "api", Environment: "dev", Digest: digests["api"], VulnCounts: report.VulnCounts{Summary: "unscanned", Counts: map[string]int{}}},
		{Target: "app", Environment: "dev", Digest: digests["app"], VulnCounts: report.VulnCounts{Summary: "1 high", Counts: map[string]int{"high": 1}}},
	})
	if got != want {
		t.Errorf("report -o json's vulnerabilities:\n%s\nwant:\n%s", got, want)
	}
	pages, _ := filepath.Glob(filepath.Join(out, "digest-app-*.html"))
	if len(pages) != 1 {
		t.Fatalf("app's pages: %v", pages)
	}
	b, err := os.ReadFile(pages[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `<tr data-id="CVE-2099-0201" data-package="libc6" data-platform="" data-severity="high" data-fix="fixed" data-suppressed="false" class="bad">`) {
		t.Error("app's page lacks its finding's row")
	}
}
