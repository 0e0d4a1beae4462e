package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/sbom"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/schemacheck"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

// vulnSite is a site whose target app (a Debian 12 image with libc6 and
// zlib1g) was built into dev and promoted to prod, whose prod denies high
// findings, and whose vulnerabilities.db is db.
type vulnSite struct {
	dir, cfg, pub, host string
	dev, prod           name.Digest
	// ami is a machine image record in dev whose SBOM lists app's
	// packages (addAMI).
	ami name.Digest
}

// The advisories the tests' databases know: app's libc6 is affected by
// high (fixed later) and not by fixed (fixed before its version); zlib1g by
// low (no fix).
var (
	advHigh  = vulntest.Advisory{ID: "CVE-2099-0001", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-9+deb12u99", Severity: "High"}
	advFixed = vulntest.Advisory{ID: "CVE-2099-0002", Namespace: "debian:12", Package: "libc6", Fixed: "2.36-1", Severity: "Critical"}
	advLow   = vulntest.Advisory{ID: "CVE-2099-0003", Namespace: "debian:12", Package: "zlib1g", Severity: "Low"}
)

// newVulnSite builds the site, with a database db1 of advisories built an
// hour ago.
func newVulnSite(t *testing.T, advisories ...vulntest.Advisory) *vulnSite {
	t.Helper()
	ctx := context.Background()
	reg := bakerytest.NewRegistry(t)
	s := &vulnSite{dir: t.TempDir(), host: reg.Host}
	priv, pub, err := attest.GenerateKeys(filepath.Join(s.dir, "bakery"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pub = pub
	signer, err := attest.LoadSigner(ctx, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = filepath.Join(s.dir, "bakery.yaml")
	s.writeDB(t, "db1", time.Now().Add(-time.Hour), advisories...)
	s.writeConfig(t, "db1", "")

	img := bakerytest.Debian12(t, map[string]string{"libc6": "2.36-9+deb12u7", "zlib1g": "1:1.2.13.dfsg-1"})
	dgst, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s.dev, err = name.NewDigest(reg.Host + "/dev/app@" + dgst.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(s.dev, img); err != nil {
		t.Fatal(err)
	}
	a := attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test"})
	if _, err := a.Attest(ctx, s.dev, builders.Result{Target: "app", Kind: builders.Container}); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(ctx, signer, s.dev, "app", "dev", "test"); err != nil {
		t.Fatal(err)
	}
	tag(t, s.dev, "dev")
	// promoted to prod as bakery promote copies it: the image, its
	// signatures and attestations, and prod's receipt.
	s.prod, _ = name.NewDigest(reg.Host + "/prod/app@" + dgst.String())
	hex := "sha256-" + dgst.Hex
	for _, pair := range [][2]string{
		{s.dev.String(), s.prod.String()},
		{s.dev.Context().String() + ":" + hex + ".sig", s.prod.Context().String() + ":" + hex + ".sig"},
		{s.dev.Context().String() + ":" + hex + ".att", s.prod.Context().String() + ":" + hex + ".att"},
	} {
		if err := crane.Copy(pair[0], pair[1], crane.Insecure); err != nil {
			t.Fatal(err)
		}
	}
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: "app", Environment: "prod", From: "dev"}
	if err := receipt.Sign(ctx, signer, s.prod, meta, "", "test", nil); err != nil {
		t.Fatal(err)
	}
	tag(t, s.prod, "prod")
	return s
}

func (s *vulnSite) writeConfig(t *testing.T, db, extra string) {
	t.Helper()
	reg := s.host
	ami := ""
	if s.ami.DigestStr() != "" {
		ami = "  ami:\n    type: packer\n    template: ami.pkr.hcl\n"
	}
	yaml := "version: 1\ntargets:\n  app:\n    type: container\n    context: .\n" + ami +
		"environments:\n  - name: dev\n    repository: " + reg + "/dev\n    insecure: true\n" +
		"  - name: prod\n    repository: " + reg + "/prod\n    insecure: true\n    vulnerabilities:\n      deny_severity: high\n" +
		"signing:\n  key: bakery.key\nverification:\n  keys: [bakery.pub]\n" +
		"vulnerabilities:\n  db: " + db + "\n" + extra
	if err := os.WriteFile(s.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tag(t *testing.T, ref name.Digest, tagName string) {
	t.Helper()
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(ref.Context().Tag(tagName), desc); err != nil {
		t.Fatal(err)
	}
}

// addAMI builds a machine image into dev as bakery build records one: a
// record of its AMIs, attested with the SBOM packer catalogued (app's
// packages), signed, tagged.
func (s *vulnSite) addAMI(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	signer, err := attest.LoadSigner(ctx, filepath.Join(s.dir, "bakery.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.Generate(ctx, s.dev, "linux/amd64", sbom.Identity{Version: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(s.host+"/dev/ami", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rec := &machineimage.Record{Target: "ami", Platform: "linux/amd64", AMIs: map[string]string{"eu-west-1": "ami-0built"}}
	if s.ami, _, err = machineimage.Push(ctx, repo, rec); err != nil {
		t.Fatal(err)
	}
	a := attest.New(attest.Options{Signer: signer, BuilderID: "https://builder.test", Version: "test", BuilderSBOMs: true})
	if _, err := a.Attest(ctx, s.ami, builders.Result{Target: "ami", Kind: builders.MachineImage, SBOM: doc.SPDX}); err != nil {
		t.Fatal(err)
	}
	if err := receipt.SignBuild(ctx, signer, s.ami, "ami", "dev", "test"); err != nil {
		t.Fatal(err)
	}
	tag(t, s.ami, "dev")
	s.writeConfig(t, "db1", "")
}

// writeDB writes a test database built at built into dir under the site.
func (s *vulnSite) writeDB(t *testing.T, sub string, built time.Time, advisories ...vulntest.Advisory) string {
	t.Helper()
	p, err := vulntest.Write(filepath.Join(s.dir, sub), built, advisories...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runSplit runs bakery, stdout and stderr apart.
func runSplit(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := New("test")
	var out, errOut strings.Builder
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// schemaOK checks a command's JSON output against its schema.
func schemaOK(t *testing.T, schema, out string) {
	t.Helper()
	if err := schemacheck.Validate(repoRoot, schema, []byte(out)); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

// TestScanRecordsASignedScan: bakery scan records, for prod's digest, a
// scan signed with the site's key that verifies as a vuln attestation of
// the digest bound to app and prod, whose findings are what the database
// says of the image's packages; status, find and verify-time evidence then
// agree with it.
func TestScanRecordsASignedScan(t *testing.T) {
	s := newVulnSite(t, advHigh, advFixed, advLow)
	out, stderr, err := runSplit(t, "scan", "app", "--env", "prod", "--config", s.cfg, "-o", "json")
	if err != nil {
		t.Fatalf("scan: %v\n%s\n%s", err, out, stderr)
	}
	schemaOK(t, "scan", out)
	var got scanJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Reference != s.prod.String() || got.Target != "app" || got.Environment != "prod" || got.Summary != "1 high, 1 low" {
		t.Errorf("scan: %s %s %s %q", got.Reference, got.Target, got.Environment, got.Summary)
	}
	var ids []string
	for _, e := range got.Scans {
		for _, f := range e.Findings {
			ids = append(ids, f.ID+" "+f.Package+" "+f.Severity+" "+strings.Join(f.Fixed, ","))
		}
	}
	if want := "CVE-2099-0001 libc6 high 2.36-9+deb12u99|CVE-2099-0003 zlib1g low "; strings.Join(ids, "|") != want {
		t.Errorf("findings %q, want %q", strings.Join(ids, "|"), want)
	}

	// The recorded scan verifies on its own, with the site's key, bound
	// to prod's digest, target and environment.
	ctx := context.Background()
	verifier, err := attest.NewVerifier(ctx, attest.FromFlag, []string{s.pub})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verifier.Verify(ctx, s.prod)
	if err != nil {
		t.Fatal(err)
	}
	ev := vuln.Scans(rep, "app")
	if len(ev) != 1 || ev[0].Environment != "prod" || len(ev[0].Findings) != 2 || ev[0].KeyID == "" {
		t.Fatalf("verified scans of prod's digest: %+v", ev)
	}
	if other := vuln.Scans(rep, "web"); len(other) != 0 {
		t.Errorf("a scan of app counts for web: %+v", other)
	}

	text, _, err := runSplit(t, "scan", "app", "--env", "prod", "--config", s.cfg)
	t.Logf("bakery scan app --env prod:\n%s", text)
	if err != nil || !strings.Contains(text, "ID") || !strings.Contains(text, "FIXED IN") || !strings.Contains(text, "CVE-2099-0001") ||
		!strings.Contains(text, "vulnerabilities: 1 high, 1 low") {
		t.Errorf("scan's text: %v\n%s", err, text)
	}

	// verify lists the evidence, and what suppresses a finding.
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	s.writeConfig(t, "db1", "  waivers:\n    - {id: CVE-2099-0003, target: app, until: \""+tomorrow+"\", reason: no fix yet, approved_by: sec}\n")
	shown, _, err := runSplit(t, "verify", s.prod.String(), "--config", s.cfg)
	if err != nil || !strings.Contains(shown, "vulns       in prod: 1 high (1 suppressed), database built 60m ago") ||
		!strings.Contains(shown, "suppressed  CVE-2099-0003 zlib1g -") || !strings.Contains(shown, "waived until "+tomorrow+" by sec (no fix yet)") {
		t.Errorf("verify: %v\n%s", err, shown)
	}
	s.writeConfig(t, "db1", "")
	inspected, _, err := runSplit(t, "inspect", s.prod.String(), "--config", s.cfg, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	schemaOK(t, "inspect", inspected)
	var ij verdictJSON
	if err := json.Unmarshal([]byte(inspected), &ij); err != nil || len(ij.Vulnerabilities) != 1 || len(ij.Vulnerabilities[0].Findings) != 2 {
		t.Errorf("inspect -o json's vulnerabilities: %v\n%s", err, inspected)
	}

	st, _, err := runSplit(t, "status", "--config", s.cfg, "-o", "json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, st)
	}
	schemaOK(t, "status", st)
	var rows []statusJSON
	if err := json.Unmarshal([]byte(st), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		want := map[string]string{"dev": "unscanned", "prod": "1 high, 1 low"}[r.Environment]
		if r.Vulnerabilities == nil || r.Vulnerabilities.Summary != want {
			t.Errorf("status of app in %s: %+v, want %q", r.Environment, r.Vulnerabilities, want)
		}
	}

	find := func() vulnFindJSON {
		t.Helper()
		found, stderr, err := runSplit(t, "find", "cve-2099-0001", "--config", s.cfg, "-o", "json")
		if err != nil {
			t.Fatalf("find: %v\n%s", err, stderr)
		}
		schemaOK(t, "find", found)
		var where vulnFindJSON
		if err := json.Unmarshal([]byte(found), &where); err != nil {
			t.Fatal(err)
		}
		if len(where.Unscanned) > 0 && !strings.Contains(stderr, "not scanned: app in dev") {
			t.Errorf("find's stderr does not name dev's unscanned digest: %q", stderr)
		}
		return where
	}
	where := find()
	if len(where.Matches) != 1 || where.Matches[0].Environment != "prod" || where.Matches[0].Kind != "container" ||
		where.Matches[0].Finding.Package != "libc6" || len(where.Unscanned) != 1 || where.Unscanned[0].Environment != "dev" {
		t.Errorf("find CVE-2099-0001: %+v", where)
	}

	// An IMAGE: the target is its repository's, the environment the one
	// whose repository holds it.
	byImage, _, err := runSplit(t, "scan", s.dev.Context().Tag("dev").String(), "--config", s.cfg, "-o", "json")
	if err != nil || !strings.Contains(byImage, `"environment": "dev"`) || !strings.Contains(byImage, `"reference": "`+s.dev.String()+`"`) {
		t.Errorf("scan of dev's tag: %v\n%s", err, byImage)
	}
	_, _, err = runSplit(t, "scan", "nosuch", "--config", s.cfg)
	wantOneLine(t, "scan nosuch", err, failure.Config, []string{`target "nosuch"`})
	if where = find(); len(where.Matches) != 2 || where.Matches[0].Environment != "dev" || len(where.Unscanned) != 0 {
		t.Errorf("find CVE-2099-0001 once dev is scanned: %+v", where)
	}

	// A machine image: scanned from the SBOM packer catalogued, found
	// with its AMIs.
	s.addAMI(t)
	if out, stderr, err := runSplit(t, "scan", "ami", "--config", s.cfg); err != nil || !strings.Contains(out, "vulnerabilities: 1 high, 1 low") {
		t.Fatalf("scan ami: %v\n%s\n%s", err, out, stderr)
	}
	where = find()
	var kinds []string
	for _, m := range where.Matches {
		kinds = append(kinds, m.Target+" "+m.Environment+" "+m.Kind+" "+m.AMIs["eu-west-1"])
	}
	if want := "ami dev machine-image ami-0built|app dev container |app prod container "; strings.Join(kinds, "|") != want {
		t.Errorf("find CVE-2099-0001 with the machine image: %q, want %q", strings.Join(kinds, "|"), want)
	}
}

// TestRescanCheckFailsOnANewerDatabase: with a database that knows only a
// low advisory, prod passes rescan --check; once a newer database adds a
// high one for what prod runs, rescan --check lists it as newly failing
// and exits 4; run again, it still exits 4 but nothing is new; a waiver
// lets prod pass until its date; a stale database is a config error.
func TestRescanCheckFailsOnANewerDatabase(t *testing.T) {
	s := newVulnSite(t, advFixed, advLow)
	out, stderr, err := runSplit(t, "rescan", "--check", "--config", s.cfg)
	if err != nil || !strings.Contains(out, "nothing newly fails") {
		t.Fatalf("rescan --check with the first database: %v\n%s\n%s", err, out, stderr)
	}

	s.writeDB(t, "db2", time.Now().Add(-time.Minute), advHigh, advFixed, advLow)
	s.writeConfig(t, "db2", "")
	out, stderr, err = runSplit(t, "rescan", "--check", "--config", s.cfg, "-o", "json")
	if failure.ClassOf(err) != failure.Verify || failure.ClassOf(err).ExitCode() != 4 {
		t.Fatalf("rescan --check with the newer database: %v (class %v), want exit 4\n%s\n%s", err, failure.ClassOf(err), out, stderr)
	}
	wantOneLine(t, "rescan --check", err, failure.Verify, []string{"app in prod (CVE-2099-0001)"})
	schemaOK(t, "rescan", out)
	var got rescanJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.NewlyFailing) != 1 || got.NewlyFailing[0].ID != advHigh.ID || got.NewlyFailing[0].Environment != "prod" ||
		got.NewlyFailing[0].Target != "app" || len(got.Digests) != 2 {
		t.Errorf("rescan JSON: %s", out)
	}

	table, _, _ := runSplit(t, "rescan", "--config", s.cfg, "-o", "wide")
	t.Logf("bakery rescan -o wide:\n%s", table)
	out, _, err = runSplit(t, "rescan", "--check", "--config", s.cfg)
	if failure.ClassOf(err).ExitCode() != 4 || !strings.Contains(out, "nothing newly fails") || !strings.Contains(out, "1 failing its policy (0 new)") {
		t.Errorf("rescan --check again: %v\n%s", err, out)
	}
	text, _, _ := runSplit(t, "rescan", "--env", "prod", "--config", s.cfg)
	if strings.Contains(text, "app in dev") {
		t.Errorf("rescan --env prod rescanned dev:\n%s", text)
	}

	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	s.writeConfig(t, "db2", "  waivers:\n    - id: CVE-2099-0001\n      target: app\n      until: "+tomorrow+"\n      reason: not reachable\n      approved_by: sec\n")
	if out, _, err := runSplit(t, "rescan", "--check", "--config", s.cfg); err != nil {
		t.Errorf("rescan --check with a waiver in force: %v\n%s", err, out)
	}

	s.writeDB(t, "old", time.Now().Add(-200*time.Hour), advHigh)
	s.writeConfig(t, "old", "")
	_, _, err = runSplit(t, "rescan", "--check", "--config", s.cfg)
	wantOneLine(t, "rescan with a stale database", err, failure.Config, []string{"max_db_age", "old"})
	// scan records evidence: a stale database is only a warning there.
	if _, stderr, err := runSplit(t, "scan", "app", "--config", s.cfg); err != nil || !strings.Contains(stderr, "warning:") {
		t.Errorf("scan with a stale database: %v, stderr %q", err, stderr)
	}

	// prod's tag moved by hand to an unsigned image: not scanned, named,
	// exit 4; dev is rescanned all the same.
	s.writeConfig(t, "db2", "")
	unsigned := bakerytest.Debian12(t, map[string]string{"libc6": "2.36-9+deb12u7", "bash": "5.2.15-2+b2"})
	d, _ := unsigned.Digest()
	moved := s.prod.Context().Digest(d.String())
	if err := remote.Write(moved, unsigned); err != nil {
		t.Fatal(err)
	}
	tag(t, moved, "prod")
	out, stderr, err = runSplit(t, "rescan", "--config", s.cfg, "-o", "json")
	wantOneLine(t, "rescan of an unsigned digest", err, failure.Verify, []string{"not scanned", "app in prod"})
	if !strings.Contains(stderr, "not scanned: app in prod ("+d.String()+")") || !strings.Contains(out, `"environment": "dev"`) {
		t.Errorf("rescan with prod unsigned:\n%s\n%s", out, stderr)
	}
}

// TestDBStatus: the database's status, and one line naming the file (exit
// 2) for a missing or truncated one.
func TestDBStatus(t *testing.T) {
	dir := t.TempDir()
	good, err := vulntest.Write(filepath.Join(dir, "good"), time.Now().Add(-time.Hour), advLow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated", "vulnerability.db")
	if err := os.MkdirAll(filepath.Dir(truncated), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bakery.yaml")
	write := func(db string) {
		yaml := "version: 1\ntargets:\n  app:\n    type: container\n    context: .\n" +
			"environments:\n  - name: dev\n    repository: 127.0.0.1:1/dev\n" +
			"vulnerabilities:\n  db: " + db + "\n  max_db_age: 30m\n"
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good")
	out, _, err := runSplit(t, "db", "status", "--config", cfg, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	schemaOK(t, "db-status", out)
	var st dbStatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Path != good || st.Fresh || st.MaxAge != "30m0s" || st.Schema == "" || st.Checksum == "" {
		t.Errorf("db status: %s", out)
	}
	text, _, err := runSplit(t, "db", "status", "--config", cfg)
	if err != nil || !strings.Contains(text, "fresh") || !strings.Contains(text, "NO") || !strings.Contains(text, good) {
		t.Errorf("db status text: %v\n%s", err, text)
	}
	for _, db := range []string{"missing", "truncated"} {
		write(db)
		_, _, err := runSplit(t, "db", "status", "--config", cfg)
		wantOneLine(t, "db status of a "+db+" database", err, failure.Config, []string{filepath.Join(dir, db)})
		if failure.ClassOf(err).ExitCode() != 2 {
			t.Errorf("%s: exit %d", db, failure.ClassOf(err).ExitCode())
		}
	}
}

// TestBuildShowsItsVulnerabilities: build prints the scan's summary after
// the attestations, in its CI lines, and under vulnerabilities in JSON, as
// its schema says.
func TestBuildShowsItsVulnerabilities(t *testing.T) {
	a := built("a")
	a.Vulnerabilities = &pipeline.VulnSummary{Summary: "1 critical (1 suppressed)", Counts: map[string]int{"critical": 1}}
	out := validate(t, "build", buildJSON([]pipeline.Built{a}, nil, nil))
	v := out["targets"].([]any)[0].(map[string]any)["vulnerabilities"].(map[string]any)
	if v["summary"] != "1 critical (1 suppressed)" || v["counts"].(map[string]any)["critical"] != float64(1) {
		t.Errorf("build JSON's vulnerabilities: %v", v)
	}
	o := &buildOptions{rootOptions: &rootOptions{output: "text"}}
	cmd := &cobra.Command{}
	var text bytes.Buffer
	cmd.SetOut(&text)
	if err := o.print(cmd, []pipeline.Built{a}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), ", vulnerabilities: 1 critical (1 suppressed)") {
		t.Errorf("build's text: %q", text.String())
	}
	if lines := buildLines([]pipeline.Built{a}, nil, nil); len(lines) != 1 || !strings.Contains(lines[0].Detail, "vulnerabilities: 1 critical") {
		t.Errorf("build's CI lines: %+v", lines)
	}
}

// TestScanReplacesTheScansItSupersedes: a digest scanned again and again
// keeps, per platform, one scan per database in its .att image (not one
// per run, which attest.MaxAttestations would one day refuse as flooded);
// a scan made with a newer database stays when an older one scans again,
// and a scan the trusted keys did not sign is left as it is.
func TestScanReplacesTheScansItSupersedes(t *testing.T) {
	s := newVulnSite(t, advHigh, advLow)
	ctx := context.Background()
	attTag := s.prod.Context().Tag("sha256-" + strings.TrimPrefix(s.prod.DigestStr(), "sha256:") + ".att")
	layers := func() int {
		t.Helper()
		img, err := remote.Image(attTag)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range m.Layers {
			if l.Annotations["predicateType"] == vuln.PredicateType {
				n++
			}
		}
		return n
	}
	verifier, err := attest.NewVerifier(ctx, attest.FromFlag, []string{s.pub})
	if err != nil {
		t.Fatal(err)
	}
	verified := func() (int, []vuln.Evidence) {
		t.Helper()
		rep, err := verifier.Verify(ctx, s.prod)
		if err != nil {
			t.Fatal(err)
		}
		return len(verifiedScans(t, verifier, s.prod)), vuln.Scans(rep, "app")
	}
	scan := func(what string) {
		t.Helper()
		if out, stderr, err := runSplit(t, "scan", "app", "--env", "prod", "--config", s.cfg); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", what, err, out, stderr)
		}
	}
	for i := range 3 {
		scan(fmt.Sprintf("scan %d", i+1))
	}
	if n := layers(); n != 1 {
		t.Fatalf("three scans with one database left %d scans in the .att image, want 1", n)
	}

	// A scan signed by a key nobody trusts is not bakery's to remove.
	_, _, err = attest.GenerateKeys(filepath.Join(s.dir, "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := attest.LoadSigner(ctx, filepath.Join(s.dir, "other.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := attest.Statement{PredicateType: vuln.PredicateType, Subjects: []attest.Subject{attest.SubjectOf(s.prod)},
		Predicate: []byte(`{"scanner":{"uri":"x","result":{"bakery":{"target":"app","environment":"prod"}}}}`)}
	if err := attest.Attach(ctx, other, s.prod, []attest.Statement{forged}); err != nil {
		t.Fatal(err)
	}
	scan("a scan after the untrusted one")
	if n := layers(); n != 2 {
		t.Errorf("after a scan, the .att image holds %d scans, want 2 (bakery's newest and the untrusted one)", n)
	}

	// A newer database replaces the older one's scan; the older database
	// scanning again does not replace the newer one's, which still counts.
	s.writeDB(t, "db2", time.Now().Add(-time.Minute), advLow)
	s.writeConfig(t, "db2", "")
	scan("a scan with a newer database")
	n, ev := verified()
	if n != 1 || len(ev) != 1 || vuln.Summary(ev) != "1 low" {
		t.Errorf("after a scan with a newer database: %d verified scans, evidence %+v; want 1, the newer database's (1 low)", n, ev)
	}
	s.writeConfig(t, "db1", "")
	scan("a scan with the older database again")
	n, ev = verified()
	if n != 2 || len(ev) != 1 || vuln.Summary(ev) != "1 low" {
		t.Errorf("after the older database scans again: %d verified scans, evidence %+v; want 2, and the newer database's counting (1 low)", n, ev)
	}
}

// TestScanKeepsWhatReceiptsCiteAndWhatItCannotReplace: a scan never
// removes a scan that a verified receipt names among its inputs (the
// receipt's references must resolve), and a scan signed with a key
// verification does not trust replaces nothing: it counts for nothing,
// and the evidence that counted before still does.
func TestScanKeepsWhatReceiptsCiteAndWhatItCannotReplace(t *testing.T) {
	s := newVulnSite(t, advHigh, advLow)
	ctx := context.Background()
	verifier, err := attest.NewVerifier(ctx, attest.FromFlag, []string{s.pub})
	if err != nil {
		t.Fatal(err)
	}
	scans := func() map[string]bool { t.Helper(); return verifiedScans(t, verifier, s.prod) }
	scan := func(what string) {
		t.Helper()
		if out, stderr, err := runSplit(t, "scan", "app", "--env", "prod", "--config", s.cfg); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", what, err, out, stderr)
		}
	}
	scan("the first scan")
	first := scans()
	rep, err := verifier.Verify(ctx, s.prod)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, filepath.Join(s.dir, "bakery.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := receipt.Metadata{Action: receipt.ActionPromote, Target: "app", Environment: "prod", From: "dev"}
	if err := receipt.Sign(ctx, signer, s.prod, meta, "", "test", rep.Attestations); err != nil {
		t.Fatal(err)
	}
	scan("a scan after a receipt cited the first")
	scan("and another")
	now := scans()
	for l := range first {
		if !now[l] {
			t.Errorf("the scan the receipt cites (%s) was removed", l)
		}
	}
	if len(now) != 2 {
		t.Errorf("%d verified scans, want 2: the cited one and the newest", len(now))
	}

	if _, _, err := attest.GenerateKeys(filepath.Join(s.dir, "untrusted"), nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BAKERY_SIGNING_KEY", filepath.Join(s.dir, "untrusted.key"))
	out, stderr, err := runSplit(t, "scan", "app", "--env", "prod", "--config", s.cfg)
	if err != nil || !strings.Contains(stderr, "does not verify with the trusted keys") {
		t.Fatalf("a scan signed by an untrusted key: %v, want a warning\n%s\n%s", err, out, stderr)
	}
	if after := scans(); len(after) != 2 || !reflect.DeepEqual(after, now) {
		t.Errorf("after a scan signed by an untrusted key, the verified scans are %v, want them unchanged: %v", after, now)
	}
}

// verifiedScans are the layers of ref's scans that verify with verifier.
func verifiedScans(t *testing.T, verifier *attest.Verifier, ref name.Digest) map[string]bool {
	t.Helper()
	atts, _, err := verifier.Attestations(context.Background(), ref, []string{vuln.PredicateType})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range atts {
		out[a.Layer.String()] = true
	}
	return out
}
