package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

func judged(id, severity string, fixed ...string) vuln.Judged {
	f := vuln.Finding{ID: id, Package: "libc6", Version: "1", Severity: severity, FixState: "not-fixed", Fixed: fixed}
	if len(fixed) > 0 {
		f.FixState = "fixed"
	}
	return vuln.Judged{Finding: f}
}

// TestFails is the one rule of a finding failing a policy, case by case.
func TestFails(t *testing.T) {
	waived := judged("CVE-1", "critical", "2")
	waived.Suppressed = &vuln.Suppression{By: "waiver", Source: "bakery.yaml"}
	high := &config.VulnPolicy{DenySeverity: "high"}
	fixedOnly := &config.VulnPolicy{DenySeverity: "medium", OnlyFixed: true}
	ids := &config.VulnPolicy{DenyIDs: []string{"cve-9"}}
	for _, tc := range []struct {
		name string
		f    vuln.Judged
		p    *config.VulnPolicy
		want bool
	}{
		{"no policy", judged("CVE-1", "critical"), nil, false},
		{"empty policy", judged("CVE-1", "critical"), &config.VulnPolicy{}, false},
		{"at the severity", judged("CVE-1", "high"), high, true},
		{"above it", judged("CVE-1", "critical"), high, true},
		{"below it", judged("CVE-1", "medium"), high, false},
		{"unknown severity", judged("CVE-1", "unknown"), &config.VulnPolicy{DenySeverity: "negligible"}, false},
		{"suppressed", waived, high, false},
		{"suppressed, denied by id", waived, &config.VulnPolicy{DenyIDs: []string{"CVE-1"}}, false},
		{"only fixed, no fix", judged("CVE-1", "critical"), fixedOnly, false},
		{"only fixed, a fix", judged("CVE-1", "medium", "2"), fixedOnly, true},
		{"only fixed, wont-fix", vuln.Judged{Finding: vuln.Finding{ID: "CVE-1", Severity: "critical", FixState: "wont-fix"}}, fixedOnly, false},
		{"denied id, any case, no fix", judged("CVE-9", "low"), ids, true},
		{"denied id, with only_fixed", judged("CVE-9", "low"), &config.VulnPolicy{DenyIDs: []string{"CVE-9"}, OnlyFixed: true}, true},
		{"another id", judged("CVE-8", "critical"), ids, false},
	} {
		if got := Fails(tc.f, tc.p); got != tc.want {
			t.Errorf("%s: Fails = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNewlyFailing: what fails now and did not in the scan before; for a
// digest never scanned, everything that fails.
func TestNewlyFailing(t *testing.T) {
	p := &config.VulnPolicy{DenySeverity: "high"}
	before := []vuln.Evidence{{Platform: "linux/amd64", Findings: []vuln.Judged{judged("CVE-1", "high"), judged("CVE-2", "low")}}}
	now := []vuln.Evidence{{Platform: "linux/amd64", Findings: []vuln.Judged{judged("CVE-1", "high"), judged("CVE-2", "critical"), judged("CVE-3", "medium")}},
		{Platform: "linux/arm64", Findings: []vuln.Judged{judged("CVE-1", "high")}}}
	name := func(fs []Failing) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Platform+" "+f.ID)
		}
		return strings.Join(out, ", ")
	}
	if got := name(NewlyFailing(&Scanned{Before: before, Evidence: now}, p)); got != "linux/amd64 CVE-2, linux/arm64 CVE-1" {
		t.Errorf("newly failing: %q", got)
	}
	if got := name(NewlyFailing(&Scanned{Evidence: now}, p)); got != "linux/amd64 CVE-1, linux/amd64 CVE-2, linux/arm64 CVE-1" {
		t.Errorf("first scan: %q", got)
	}
	if got := len(Failures(now, p)); got != 3 {
		t.Errorf("failures: %d", got)
	}
}

// debianBuilder pushes a Debian 12 image whose dpkg database lists libc6
// at a version the test database's advisory affects.
type debianBuilder struct{}

func (debianBuilder) Build(ctx context.Context, req builders.Request) (builders.Result, error) {
	img, err := crane.Image(map[string][]byte{
		"etc/os-release": []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
		"var/lib/dpkg/status": []byte("Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 1\n" +
			"Maintainer: Example <libc6@example.com>\nArchitecture: amd64\nVersion: 2.36-9+deb12u7\nDescription: libc6\n\n"),
	})
	if err != nil {
		return builders.Result{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return builders.Result{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return builders.Result{}, err
	}
	d, _ := img.Digest()
	if err := remote.Write(req.Repository.Digest(d.String()), img); err != nil {
		return builders.Result{}, err
	}
	return builders.Result{Target: req.Target.Name, Kind: builders.Container, Repository: req.Repository.Name(), Digest: d,
		Platforms: []string{"linux/amd64"}}, nil
}

// TestBuildScansWhatItPublishes: with a database, build scans the digest
// once its SBOMs are attested and reports the summary; building the same
// digest again records no second scan made with the same database.
func TestBuildScansWhatItPublishes(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t, 1, "app")
	dir := t.TempDir()
	priv, pub, err := attest.GenerateKeys(filepath.Join(dir, "k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := attest.NewVerifier(ctx, attest.FromFlag, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	path, err := vulntest.Write(filepath.Join(dir, "db"), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	build := func() Built {
		t.Helper()
		opts := BuildOptions{Builders: map[string]builders.Builder{config.TypeContainer: debianBuilder{}},
			Attester: attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test"}),
			receipts: signer, Vulns: &ScanOptions{DB: db, Verifier: verifier}}
		out, err := Build(ctx, cfg, nil, opts)
		if err != nil || len(out) != 1 {
			t.Fatalf("build: %v %+v", err, out)
		}
		return out[0]
	}
	first := build()
	if v := first.Vulnerabilities; v == nil || v.Summary != "1 high" || v.Counts["high"] != 1 {
		t.Fatalf("build's vulnerabilities: %+v", v)
	}
	again := build()
	if !again.Unchanged || again.Vulnerabilities == nil || again.Vulnerabilities.Summary != "1 high" {
		t.Errorf("the same digest again: unchanged %v, vulnerabilities %+v", again.Unchanged, again.Vulnerabilities)
	}
	ref, _ := name.NewDigest(first.Reference())
	atts, _, err := verifier.Attestations(ctx, ref, []string{vuln.PredicateType})
	if err != nil || len(atts) != 1 {
		t.Errorf("%d scans recorded (%v), want 1: the second build's database is the first's", len(atts), err)
	}
}
