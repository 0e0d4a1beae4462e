package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/schemacheck"
	"github.com/bakeryhq/bakery/report"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// diffImage is a linux/amd64 Debian 12 image whose dpkg database lists
// pkgs, pushed to host/dev/TARGET and attested by signer as bakery build
// does.
func diffImage(t *testing.T, host string, signer signature.SignerVerifier, target string, pkgs map[string]string) name.Digest {
	t.Helper()
	img := bakerytest.Debian12(t, pkgs)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(host + "/dev/" + target + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	a := attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := a.Attest(context.Background(), ref, builders.Result{Target: target, Kind: builders.Container}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestDiffVulnerabilities: diff names the vulnerabilities B adds and fixes
// against A by id and package, a waived one marked with its waiver, in
// text and JSON (schema); against an unscanned image it says "unscanned"
// and compares nothing, rather than counting none.
func TestDiffVulnerabilities(t *testing.T) {
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
	a := diffImage(t, host, signer, "app", map[string]string{"libc6": "2.36-9+deb12u7", "zlib1g": "1:1.2.13.dfsg-1"})
	b := diffImage(t, host, signer, "app", map[string]string{"libc6": "2.36-9+deb12u99", "zlib1g": "1:1.2.13.dfsg-1", "curl": "7.88.1-10"})
	c := diffImage(t, host, signer, "app", map[string]string{"libc6": "2.36-9+deb12u8"})

	file, err := vulntest.Write(filepath.Join(dir, "db"), time.Now().Add(-time.Hour),
		vulntest.Advisory{ID: "CVE-2099-0101", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"},
		vulntest.Advisory{ID: "CVE-2099-0102", Namespace: "debian:12", Package: "curl", Severity: "Critical"},
		vulntest.Advisory{ID: "CVE-2099-0103", Namespace: "debian:12", Package: "zlib1g", Severity: "Low"},
		vulntest.Advisory{ID: "CVE-2099-0104", Namespace: "debian:12", Package: "curl", Severity: "Medium"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := vuln.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := attest.NewTrustedKeys(ctx, []string{pub})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []name.Digest{a, b} {
		rep, err := attest.Trusting(keys).Verify(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		scans, err := db.ScanReport(ctx, rep, "app", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if err := vuln.Record(ctx, signer, keys, ref, scans); err != nil {
			t.Fatal(err)
		}
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	cfg := filepath.Join(dir, "bakery.yaml")
	yaml := "version: 1\ntargets:\n  app:\n    type: container\n    context: .\n" +
		"environments:\n  - name: dev\n    repository: " + host + "/dev\n    insecure: true\n" +
		"verification:\n  keys: [bakery.pub]\n" +
		"vulnerabilities:\n  waivers:\n    - id: CVE-2099-0102\n      target: app\n      until: \"" + tomorrow + "\"\n      reason: no network\n      approved_by: sec\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "diff", a.String(), b.String(), "--config", cfg, "-o", "json")
	if err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, out)
	}
	if err := schemacheck.Validate(repoRoot, "diff", []byte(out)); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
	var got struct {
		Against         string
		Added           []struct{ Name string }
		Vulnerabilities report.VulnDelta
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	v := got.Vulnerabilities
	changes := func(cs []report.VulnChange) string {
		var s []string
		for _, c := range cs {
			x := c.ID + " " + c.Severity + " " + c.Package + " " + strings.Join(c.Platforms, ",")
			if c.Suppressed != nil {
				x += " [" + c.Suppressed.String() + "]"
			}
			s = append(s, x)
		}
		return strings.Join(s, "; ")
	}
	wantAdded := "CVE-2099-0102 critical curl  [waived until " + tomorrow + " by sec (no network)]; CVE-2099-0104 medium curl "
	if !v.Scanned || v.Against != a.DigestStr() || changes(v.Added) != wantAdded || changes(v.Fixed) != "CVE-2099-0101 high libc6 " ||
		v.Before != "1 high, 1 low" || v.After != "1 medium, 1 low (1 suppressed)" {
		t.Errorf("diff's vulnerabilities: %+v\nadded %s\nfixed %s", v, changes(v.Added), changes(v.Fixed))
	}
	if len(got.Added) != 1 || got.Added[0].Name != "curl" {
		t.Errorf("diff's packages added: %+v, want curl", got.Added)
	}

	out, err = run(t, "diff", a.String(), b.String(), "--config", cfg)
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^added +CVE-2099-0102 +critical +curl +7\.88\.1-10 +not-fixed +- +waived until ` + tomorrow + ` by sec \(no network\)$`,
		`(?m)^added +CVE-2099-0104 +medium +curl +7\.88\.1-10 +not-fixed +- +-$`,
		`(?m)^fixed +CVE-2099-0101 +HIGH +libc6 +2\.36-9\+deb12u7 +2\.36-9\+deb12u99 +- +-$`,
		`(?m)^vulnerabilities: 2 added, 1 fixed \(` + regexp.QuoteMeta(a.String()) + `: 1 high, 1 low; ` + regexp.QuoteMeta(b.String()) + `: 1 medium, 1 low \(1 suppressed\)\)$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("diff's text lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CVE-2099-0103") {
		t.Errorf("diff lists a vulnerability both images have:\n%s", out)
	}

	// Against an unscanned image: nothing compared, never "none".
	out, err = run(t, "diff", a.String(), c.String(), "--config", cfg)
	if err != nil || !strings.Contains(out, "vulnerabilities: not compared, "+c.String()+" is unscanned ("+a.String()+": 1 high, 1 low; "+c.String()+": unscanned)") {
		t.Errorf("diff against an unscanned image: %v\n%s", err, out)
	}
	out, err = run(t, "diff", c.String(), a.String(), "--config", cfg, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := schemacheck.Validate(repoRoot, "diff", []byte(out)); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Vulnerabilities.Scanned || got.Vulnerabilities.Before != "unscanned" ||
		len(got.Vulnerabilities.Added)+len(got.Vulnerabilities.Fixed) != 0 {
		t.Errorf("diff -o json from an unscanned image: %v %+v", err, got.Vulnerabilities)
	}
	// The scans count for the target they were made for.
	out, err = run(t, "diff", a.String(), b.String(), "--config", cfg, "--target", "web")
	if err != nil || !strings.Contains(out, "not compared, "+a.String()+" and "+b.String()+" are unscanned") {
		t.Errorf("diff --target web (the scans are app's): %v\n%s", err, out)
	}
}
