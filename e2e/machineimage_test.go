//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bakeryhq/bakery/machineimage"
)

// machineImageProject is a project with the example's golden AMI template and
// golden-base container image, whose staging and prod environments (prod on
// the second registry) get their own AMIs.
func machineImageProject(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 1
targets:
  golden-ami:
    type: packer
    template: %s
    variables:
      source_rootfs: %s
  golden-base:
    type: container
    context: %s
    args:
      BASE: %s
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
sbom:
  organization: Example Corp
  namespace: https://sbom.example.com/golden
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
  license_denylist: [AGPL-3.0-only]
  package_denylist: [telnetd]
environments:
  - name: dev
    repository: %s/%s/dev
  - name: staging
    repository: %s/%s/staging
    policies: [signed, sbom, provenance, promoted_through]
    aws:
      regions: [us-east-1, eu-west-1]
      accounts: ["111122223333"]
  - name: prod
    repository: %s/%s/prod
    policies: [signed, sbom, provenance, promoted_through, license_denylist, package_denylist]
    aws:
      regions: [eu-west-1]
      accounts: ["444455556666"]
      tags: {team: platform}
`, filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl"), rootfs,
		filepath.Join(root, "examples/golden-base"), baseImg, regAddr, ns, regAddr, ns, registry2, ns)
	writeFiles(t, dir, map[string]string{"bakery.yaml": cfg})
	return filepath.Join(dir, "bakery.yaml")
}

// checkMachineImageRecord checks that the manifest at repo@digest is a
// machine-image record naming an AMI that the local EC2 endpoint holds, and
// the packed rootfs by its digest.
func checkMachineImageRecord(t *testing.T, repo, digest string, body []byte) machineimage.Record {
	t.Helper()
	var m struct {
		MediaType    string
		ArtifactType string
		Config       struct{ MediaType, Digest string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != machineimage.ArtifactType || m.Config.MediaType != machineimage.ArtifactType {
		t.Fatalf("%s@%s: not a machine-image record: %s", repo, digest, body)
	}
	var rec machineimage.Record
	blob(t, repo, m.Config.Digest, &rec)
	img, ok := ec2.Image("us-east-1", rec.AMIs["us-east-1"])
	if !ok || img.State != "available" || !slices.Equal(rec.Regions, []string{"us-east-1"}) {
		t.Errorf("record AMIs %v: not registered with the EC2 endpoint (%+v)", rec.AMIs, img)
	}
	if rec.Platform != "linux/amd64" || rec.Build.BuilderType != "bakery-chroot" || rec.Build.Packer != "1.12.0" ||
		rec.Source == nil || !strings.HasSuffix(rec.Source.URI, ".tar.gz") || rec.Source.Digest["sha256"] == "" {
		t.Errorf("record: %+v", rec)
	}
	if len(rec.Files) != 1 || rec.Files[0].Name != "rootfs.tar.gz" || rec.Files[0].Size < 10<<20 {
		t.Errorf("record files: %+v", rec.Files)
	}
	return rec
}

// TestMachineImage is the AMI flow: bakery build runs the real packer with the
// real plugin (bakery-chroot over a debootstrap'd rootfs, the shell hardening
// steps, bakery-sbom, the bakery post-processor); the record's SBOM matches
// the baked filesystem's dpkg database; the stock cosign CLI verifies it;
// promotion copies, shares and tags AMIs on the local EC2 endpoint and writes
// the new ids into the receipt; status shows it beside a container image; and
// the bakery-image data source hands a downstream template the verified AMI.
func TestMachineImage(t *testing.T) {
	ns := runID + "/ami"
	cfg := machineImageProject(t, ns)
	projectDir := filepath.Dir(cfg)
	ec2.ResetCalls()

	r := bakery(t, nil, "build", "--config", cfg, "--progress", "plain", "-o", "json")
	if r.code != 0 {
		t.Fatalf("bakery build exited %d", r.code)
	}
	// Packer's output is streamed into bakery's progress display.
	for _, want := range []string{"packer build golden-ami.pkr.hcl", "Provisioning with shell script", "bakery-sbom:", "Registered ami-"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	var ref, digest string
	kinds := map[string]string{}
	for _, tgt := range out.Targets {
		kinds[tgt.Target] = tgt.Kind
		if tgt.Target == "golden-ami" {
			ref, digest = tgt.Repository+"@"+tgt.Digest, tgt.Digest
		}
	}
	if kinds["golden-ami"] != "machine-image" || kinds["golden-base"] != "container" {
		t.Fatalf("kinds %v", kinds)
	}
	body, _, _ := manifest(t, ns+"/dev/golden-ami", digest)
	rec := checkMachineImageRecord(t, ns+"/dev/golden-ami", digest, body)
	_, devDigest, _ := manifest(t, ns+"/dev/golden-ami", "dev")
	if devDigest != digest {
		t.Errorf("dev tag points at %s, want %s", devDigest, digest)
	}

	// The artifact on disk is the record's file, and it is the baked machine.
	artifact := filepath.Join(projectDir, "output-debian", "rootfs.tar.gz")
	raw, err := os.ReadFile(artifact)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256Digest(raw); got != rec.Files[0].Digest {
		t.Errorf("artifact %s is %s, the record says %s", artifact, got, rec.Files[0].Digest)
	}
	files := tarFiles(t, artifact, "./var/lib/dpkg/status", "./etc/sysctl.d/90-golden.conf", "./etc/passwd")
	if !strings.Contains(files["./etc/sysctl.d/90-golden.conf"], "tcp_syncookies = 1") || !strings.Contains(files["./etc/passwd"], "app:x:10001") {
		t.Error("the hardening steps are not in the baked filesystem")
	}

	// The attested SBOM lists exactly the dpkg database of the baked filesystem.
	sb := bakery(t, nil, "sbom", ref, "--format", "spdx-json")
	if sb.code != 0 {
		t.Fatalf("bakery sbom exited %d", sb.code)
	}
	fromSBOM := debPackages(t, sb.stdout)
	fromDpkg := parseDpkgStatus(files["./var/lib/dpkg/status"])
	if len(fromDpkg) < 50 || strings.Join(fromSBOM, "\n") != strings.Join(fromDpkg, "\n") {
		t.Errorf("SBOM (%d deb packages) differs from the machine's dpkg status (%d):\nSBOM only: %v\ndpkg only: %v",
			len(fromSBOM), len(fromDpkg), minus(fromSBOM, fromDpkg), minus(fromDpkg, fromSBOM))
	}

	// The stock cosign CLI verifies the record's signature and attestations.
	pub := filepath.Join(keyDir, "trusted.pub")
	if o, code := stockCosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", ref); code != 0 || !strings.Contains(o, digest) {
		t.Errorf("cosign verify %s: exit %d\n%s", ref, code, o)
	}
	for _, typ := range []string{"spdxjson", "cyclonedx", "slsaprovenance1"} {
		o, code := stockCosign(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", typ, ref)
		if code != 0 {
			t.Errorf("cosign verify-attestation --type %s: exit %d\n%s", typ, code, o)
		}
		if typ != "slsaprovenance1" {
			if n := checkAttestedSBOMs(t, "golden-ami", o); n != 1 {
				t.Errorf("cosign verified %d %s SBOMs of the machine image, want 1", n, typ)
			}
		}
	}
	if _, code := stockCosign(t, "verify", "--key", filepath.Join(keyDir, "other.pub"), "--insecure-ignore-tlog", ref); code == 0 {
		t.Error("cosign verify with an unrelated key passed")
	}

	// Nothing is promoted to prod yet: the data source refuses, naming it.
	pluginDir := strings.TrimPrefix(toolEnv[slices.IndexFunc(toolEnv, func(e string) bool {
		return strings.HasPrefix(e, "BAKERY_BUILDER_PACKER_PLUGIN_DIR=")
	})], "BAKERY_BUILDER_PACKER_PLUGIN_DIR=")
	down, code := downstream(t, cfg, pluginDir, "prod", "eu-west-1")
	if code == 0 || !strings.Contains(down, `target "golden-ami" in environment "prod": nothing is promoted there`) {
		t.Errorf("data source with nothing promoted: exit %d\n%s", code, down)
	}

	// dev → staging: copies into both regions, tagged, shared with the staging account.
	before := len(ec2.Calls())
	staging := promoteMI(t, cfg, "staging")
	if len(staging) != 2 || staging["us-east-1"] == rec.AMIs["us-east-1"] {
		t.Fatalf("staging AMIs %v (built %v)", staging, rec.AMIs)
	}
	for region, id := range staging {
		img, ok := ec2.Image(region, id)
		if !ok || img.SourceImageID != rec.AMIs["us-east-1"] || img.SourceRegion != "us-east-1" ||
			!slices.Equal(img.LaunchPermissions, []string{"111122223333"}) ||
			img.Tags["bakery.digest"] != digest || img.Tags["bakery.environment"] != "staging" {
			t.Errorf("staging AMI %s in %s: %+v", id, region, img)
		}
	}
	actions := map[string]int{}
	for _, c := range ec2.Calls()[before:] {
		actions[c.Action]++
	}
	// Tags travel with CopyImage (TagSpecifications); CreateTags only mends
	// the tags of a copy a re-run finds.
	if actions["CopyImage"] != 2 || actions["ModifyImageAttribute"] != 2 || actions["DescribeImages"] == 0 {
		t.Errorf("EC2 calls during the staging promotion: %v", actions)
	}

	// staging → prod (the other registry): copies staging's AMI.
	prod := promoteMI(t, cfg, "prod")
	img, ok := ec2.Image("eu-west-1", prod["eu-west-1"])
	if len(prod) != 1 || !ok || img.SourceImageID != staging["eu-west-1"] || img.Tags["team"] != "platform" ||
		!slices.Equal(img.LaunchPermissions, []string{"444455556666"}) {
		t.Errorf("prod AMIs %v: %+v", prod, img)
	}
	prodRef := registry2 + "/" + ns + "/prod/golden-ami@" + digest
	if o, code := stockCosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", prodRef); code != 0 {
		t.Errorf("cosign verify in prod: exit %d\n%s", code, o)
	}

	// Re-running is a no-op: no second copy.
	before = len(ec2.Calls())
	again, res := promoteJSONTarget(t, cfg, "golden-ami", "--to", "prod")
	if res.code != 0 || again["alreadyPromoted"] != true {
		t.Errorf("re-run: exit %d %v", res.code, again)
	}
	for _, c := range ec2.Calls()[before:] {
		if c.Action == "CopyImage" {
			t.Error("a re-run copied an AMI again")
		}
	}

	// status lists the machine image, with prod's AMI, beside the container image.
	st := bakery(t, nil, "status", "--config", cfg, "-o", "json")
	var status []struct {
		Target, Environment, Kind, Digest, Action string
		AMIs                                      map[string]string
		Verified                                  bool
	}
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatalf("status: %v\n%s", err, st.stdout)
	}
	seen := map[string]bool{}
	for _, s := range status {
		seen[s.Target+"/"+s.Environment] = true
		switch s.Target + "/" + s.Environment {
		case "golden-ami/prod":
			if s.Kind != "machine-image" || s.Digest != digest || !s.Verified || s.Action != "promote" || !maps.Equal(s.AMIs, prod) {
				t.Errorf("status golden-ami/prod: %+v", s)
			}
		case "golden-ami/staging":
			if !maps.Equal(s.AMIs, staging) {
				t.Errorf("status golden-ami/staging: %+v", s)
			}
		case "golden-base/dev":
			if s.Kind != "container" || !s.Verified || len(s.AMIs) != 0 {
				t.Errorf("status golden-base/dev: %+v", s)
			}
		}
	}
	if !seen["golden-ami/prod"] || !seen["golden-base/dev"] {
		t.Errorf("status rows: %v", seen)
	}
	table := bakery(t, nil, "status", "--config", cfg, "-o", "wide")
	if !strings.Contains(table.stdout, "machine-image") || !strings.Contains(table.stdout, "eu-west-1="+prod["eu-west-1"]) {
		t.Errorf("status table:\n%s", table.stdout)
	}

	// The data source gives a downstream template prod's verified AMI.
	down, code = downstream(t, cfg, pluginDir, "prod", "eu-west-1")
	if code != 0 {
		t.Fatalf("downstream packer build: exit %d\n%s", code, down)
	}
	got := readFile(t, filepath.Join(projectDir, "downstream", "ami.txt"))
	if got != prod["eu-west-1"]+" "+digest {
		t.Errorf("data source gave %q, want %q", got, prod["eu-west-1"]+" "+digest)
	}

	// A second bake through to prod, then a rollback: prod is back on the
	// first digest and the AMIs its promotion made, and says so to downstream.
	r = bakery(t, nil, "build", "golden-ami", "--config", cfg, "--progress", "quiet", "-o", "json")
	if r.code != 0 {
		t.Fatalf("second build: exit %d", r.code)
	}
	promoteMI(t, cfg, "staging")
	prod2 := promoteMI(t, cfg, "prod")
	if prod2["eu-west-1"] == prod["eu-west-1"] {
		t.Fatalf("the second promotion reused the first AMI %v", prod2)
	}
	rb, res := promoteJSONTarget(t, cfg, "golden-ami", "--to", "prod") // already there: no-op
	if res.code != 0 || rb["alreadyPromoted"] != true {
		t.Errorf("re-run after the second promotion: exit %d %v", res.code, rb)
	}
	rr := bakery(t, nil, "rollback", "golden-ami", "--env", "prod", "--config", cfg, "-o", "json")
	var rolled struct {
		Action, Digest string
		AMIs           map[string]string
	}
	if err := json.Unmarshal([]byte(rr.stdout), &rolled); err != nil || rr.code != 0 {
		t.Fatalf("rollback: exit %d %v\n%s", rr.code, err, rr.stdout)
	}
	if rolled.Action != "rollback" || rolled.Digest != digest || !maps.Equal(rolled.AMIs, prod) {
		t.Errorf("rollback went to %s with AMIs %v, want %s with %v", rolled.Digest, rolled.AMIs, digest, prod)
	}
	if _, code = downstream(t, cfg, pluginDir, "prod", "eu-west-1"); code != 0 {
		t.Fatalf("downstream after rollback: exit %d", code)
	}
	if got := readFile(t, filepath.Join(projectDir, "downstream", "ami.txt")); got != prod["eu-west-1"]+" "+digest {
		t.Errorf("after rollback the data source gave %q, want %q", got, prod["eu-west-1"]+" "+digest)
	}
	revokeMachineImage(t, cfg, pluginDir, digest, map[string]map[string]string{"staging": staging, "prod": prod})
	amiDrift(t, cfg, prod["eu-west-1"])
}

// amiDrift: bakery drift finds nothing on a healthy project; then prod's AMI
// is retagged and unshared and one of staging's is deregistered with the AWS
// SDK, behind bakery's back, and drift names each, with the fix; running the
// fixes it names for the first two leaves only the missing AMI.
func amiDrift(t *testing.T, cfg, prodAMI string) {
	t.Helper()
	drift := func() (map[string]map[string]string, int) {
		t.Helper()
		r := bakery(t, nil, "drift", "--config", cfg, "-o", "json")
		var fs []struct{ Target, Environment, What, Detail, Fix string }
		if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
			t.Fatalf("drift: exit %d %v\n%s", r.code, err, r.stdout)
		}
		out := map[string]map[string]string{}
		for _, f := range fs {
			k := f.Target + "/" + f.Environment
			if out[k] == nil {
				out[k] = map[string]string{}
			}
			out[k][f.What] = f.Fix
		}
		return out, r.code
	}
	if got, code := drift(); code != 0 || len(got) != 0 {
		t.Fatalf("drift on a healthy project: exit %d, %v", code, got)
	}
	var staging string
	for _, s := range statusRows(t, cfg) {
		if s.Target == "golden-ami" && s.Environment == "staging" {
			staging = s.AMIs["us-east-1"]
		}
	}
	prodEC2 := ec2Client("eu-west-1")
	ctx := context.Background()
	if _, err := prodEC2.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{prodAMI},
		Tags: []ec2types.Tag{{Key: aws.String("bakery.digest"), Value: aws.String("sha256:forged")}}}); err != nil {
		t.Fatal(err)
	}
	unshare := &awsec2.ModifyImageAttributeInput{ImageId: aws.String(prodAMI), LaunchPermission: &ec2types.LaunchPermissionModifications{
		Remove: []ec2types.LaunchPermission{{UserId: aws.String("444455556666")}}}}
	if _, err := prodEC2.ModifyImageAttribute(ctx, unshare); err != nil {
		t.Fatal(err)
	}
	deregister(t, "us-east-1", staging)
	got, code := drift()
	prod, stg := got["golden-ami/prod"], got["golden-ami/staging"]
	if code != 4 || len(got) != 2 || len(prod) != 2 || len(stg) != 1 ||
		!strings.Contains(prod["ami-tags"], "create-tags --resources "+prodAMI) ||
		!strings.Contains(prod["ami-launch-permission"], "modify-image-attribute --image-id "+prodAMI) ||
		!strings.Contains(stg["ami-missing"], "bakery promote golden-ami --to staging") {
		t.Fatalf("drift after the AMIs were changed outside bakery: exit %d, %v", code, got)
	}
	// The fixes drift named, as the aws CLI would send them.
	digest := ""
	for _, s := range statusRows(t, cfg) {
		if s.Target == "golden-ami" && s.Environment == "prod" {
			digest = s.Digest
		}
	}
	if _, err := prodEC2.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{prodAMI},
		Tags: []ec2types.Tag{{Key: aws.String("bakery.digest"), Value: aws.String(digest)}}}); err != nil {
		t.Fatal(err)
	}
	unshare.LaunchPermission = &ec2types.LaunchPermissionModifications{Add: unshare.LaunchPermission.Remove}
	if _, err := prodEC2.ModifyImageAttribute(ctx, unshare); err != nil {
		t.Fatal(err)
	}
	if got, code := drift(); code != 4 || len(got) != 1 || got["golden-ami/staging"]["ami-missing"] == "" {
		t.Errorf("drift after the fixes: exit %d, %v, want only staging's missing AMI", code, got)
	}
}

type statusRow struct {
	Target, Environment, Digest string
	AMIs                        map[string]string
}

func statusRows(t *testing.T, cfg string) []statusRow {
	t.Helper()
	r := bakery(t, nil, "status", "--config", cfg, "-o", "json")
	var rows []statusRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status: exit %d %v", r.code, err)
	}
	return rows
}

func ec2Client(region string) *awsec2.Client {
	return awsec2.New(awsec2.Options{
		Region: region, BaseEndpoint: aws.String(ec2URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAE2ETEST", "e2e-secret", ""),
	})
}

// revokeMachineImage: revoking the digest prod runs deprecates and disables
// its AMIs in every environment, the data source fails a downstream packer
// build on it, and --restore undoes both.
func revokeMachineImage(t *testing.T, cfg, pluginDir, digest string, amis map[string]map[string]string) {
	t.Helper()
	r := bakery(t, nil, "revoke", digest, "--reason", "CVE-2024-3094 in xz-utils", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "deprecated and disabled") {
		t.Fatalf("revoke: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for env, byRegion := range amis {
		for region, id := range byRegion {
			if img, ok := ec2.Image(region, id); !ok || img.State != "disabled" || img.DeprecationTime.IsZero() {
				t.Errorf("%s AMI %s in %s after revoke: %+v, want deprecated and disabled", env, id, region, img)
			}
		}
	}
	if down, code := downstream(t, cfg, pluginDir, "prod", "eu-west-1"); code == 0 || !strings.Contains(down, "revoked") {
		t.Errorf("data source on a revoked parent: exit %d\n%s", code, down)
	}
	if r := bakery(t, nil, "revoke", digest, "--restore", "--reason", "patched in place? no: false positive", "--config", cfg); r.code != 0 {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	}
	for region, id := range amis["prod"] {
		if img, _ := ec2.Image(region, id); img.State != "available" || !img.DeprecationTime.IsZero() {
			t.Errorf("prod AMI %s in %s after --restore: %+v", id, region, img)
		}
	}
	if _, code := downstream(t, cfg, pluginDir, "prod", "eu-west-1"); code != 0 {
		t.Errorf("data source after --restore: exit %d", code)
	}
}

// promoteMI promotes golden-ami and returns the AMIs its receipt records.
func promoteMI(t *testing.T, cfg, to string) map[string]string {
	t.Helper()
	out, r := promoteJSONTarget(t, cfg, "golden-ami", "--to", to)
	if r.code != 0 || out["receiptSigned"] != true {
		t.Fatalf("promote to %s: exit %d %v", to, r.code, out)
	}
	amis := map[string]string{}
	for k, v := range out["amis"].(map[string]any) {
		amis[k] = v.(string)
	}
	// The receipt in the registry records the same ids.
	h := bakery(t, nil, "status", "--config", cfg, "-o", "json")
	if !strings.Contains(h.stdout, amis[slices.Sorted(maps.Keys(amis))[0]]) {
		t.Errorf("status does not show the AMIs of the %s receipt", to)
	}
	return amis
}

func promoteJSONTarget(t *testing.T, cfg, target string, args ...string) (map[string]any, result) {
	t.Helper()
	r := bakery(t, nil, append([]string{"promote", target, "--config", cfg, "-o", "json"}, args...)...)
	return onePromotion(t, r), r
}

// downstream runs packer itself (as a downstream pipeline would) on a template
// that reads the bakery-image data source and writes the AMI id and digest.
func downstream(t *testing.T, cfg, pluginDir, env, region string) (string, int) {
	t.Helper()
	dir := filepath.Join(filepath.Dir(cfg), "downstream")
	writeFiles(t, dir, map[string]string{"app.pkr.hcl": fmt.Sprintf(`
packer {
  required_plugins {
    bakery = { source = "github.com/bakeryhq/bakery", version = ">= 0.1.0" }
  }
}
data "bakery-image" "golden" {
  config      = %q
  target      = "golden-ami"
  environment = %q
  region      = %q
}
source "file" "ami" {
  content = "${data.bakery-image.golden.ami_id} ${data.bakery-image.golden.digest}"
  target  = "ami.txt"
}
build { sources = ["source.file.ami"] }
`, cfg, env, region)})
	cmd := exec.Command(packer, "build", "-color=false", "app.pkr.hcl")
	cmd.Dir = dir
	cmd.Env = append(append(append(os.Environ(), toolEnv...), signingEnv()...), "PACKER_PLUGIN_PATH="+pluginDir, "CHECKPOINT_DISABLE=1")
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("downstream packer build: exit %d\n%s", code, out)
	return string(out), code
}

// tarFiles reads the named files out of a .tar.gz.
func tarFiles(t *testing.T, path string, names ...string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(names, h.Name) {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = string(b)
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			t.Fatalf("%s has no %s", path, n)
		}
	}
	return out
}

// parseDpkgStatus returns name=version of every installed package.
func parseDpkgStatus(status string) []string {
	var pkgs []string
	var pkg, version string
	installed := false
	flush := func() {
		if pkg != "" && installed {
			pkgs = append(pkgs, pkg+"="+version)
		}
		pkg, version, installed = "", "", false
	}
	sc := bufio.NewScanner(strings.NewReader(status))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package: "):
			pkg = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, "Version: "):
			version = strings.TrimPrefix(line, "Version: ")
		case strings.HasPrefix(line, "Status: "):
			installed = strings.HasSuffix(line, " installed")
		}
	}
	flush()
	sort.Strings(pkgs)
	return pkgs
}

// debPackages returns name=version of the deb packages of an SPDX document.
func debPackages(t *testing.T, spdx string) []string {
	t.Helper()
	var doc struct {
		Packages []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(spdx), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range doc.Packages {
		for _, ref := range p.ExternalRefs {
			if strings.HasPrefix(ref.ReferenceLocator, "pkg:deb/") {
				out = append(out, p.Name+"="+p.VersionInfo)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// deregister removes an AMI through the EC2 API, as someone cleaning up an
// account would.
func deregister(t *testing.T, region, id string) {
	t.Helper()
	c := ec2Client(region)
	if _, err := c.DeregisterImage(context.Background(), &awsec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
}

// TestMachineImageBadInput checks each bad input of the AMI flow: one line
// that names the target and the cause, the exit code of its class, and
// nothing recorded, tagged, copied or shared.
func TestMachineImageBadInput(t *testing.T) {
	ns := runID + "/ami-bad"
	dir := t.TempDir()
	head := `packer {
  required_plugins {
    bakery = { source = "github.com/bakeryhq/bakery", version = ">= 0.1.0" }
  }
}
variable "source_rootfs" { type = string }
`
	writeFiles(t, dir, map[string]string{
		"broken.pkr.hcl": head + `source "bakery-chroot" "x" {
  source_rootfs = var.source_rootfs
  no_such_setting = true
}
build { sources = ["source.bakery-chroot.x"] }
`,
		"failing.pkr.hcl": head + `source "bakery-chroot" "x" { source_rootfs = var.source_rootfs }
build {
  sources = ["source.bakery-chroot.x"]
  provisioner "shell" { inline = ["echo hardening fails", "exit 3"] }
  provisioner "bakery-sbom" {}
  post-processor "bakery" {}
}
`,
		"bakery.yaml": fmt.Sprintf(`version: 1
targets:
  broken-template:
    type: packer
    template: broken.pkr.hcl
    variables: {source_rootfs: %[1]s}
  failing-provisioner:
    type: packer
    template: failing.pkr.hcl
    variables: {source_rootfs: %[1]s}
  golden-ami:
    type: packer
    template: %[2]s
    variables: {source_rootfs: %[1]s}
signing:
  builder_id: https://github.com/bakeryhq/bakery/e2e
policy:
  allowed_builders: [https://github.com/bakeryhq/bakery/e2e]
environments:
  - name: dev
    repository: %[3]s/%[4]s/dev
  - name: staging
    repository: %[3]s/%[4]s/staging
    policies: [signed, sbom, provenance]
    aws: {regions: [us-east-1], accounts: ["111122223333"]}
`, rootfs, filepath.Join(root, "examples/golden-ami/golden-ami.pkr.hcl"), regAddr, ns),
	})
	cfg := filepath.Join(dir, "bakery.yaml")

	for _, tc := range []struct {
		target string
		code   int
		want   string
	}{
		{"broken-template", 2, `no_such_setting`},
		{"failing-provisioner", 3, `packer build failed`},
	} {
		r := bakery(t, nil, "build", tc.target, "--config", cfg, "--progress", "quiet")
		// The failing step's log, then the one-line error, even when quiet.
		line := errorText(t, r)
		if r.code != tc.code || !strings.Contains(line, `target "`+tc.target+`"`) || !strings.Contains(line, tc.want) ||
			!strings.Contains(r.stderr, "> ["+tc.target+"] packer build") {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s", tc.target, r.code, tc.code, r.stderr)
		}
		if tg := tags(t, ns+"/dev/"+tc.target); len(tg) != 0 {
			t.Errorf("%s: tags %v after a failed build", tc.target, tg)
		}
	}

	r := bakery(t, nil, "build", "golden-ami", "--config", cfg, "--progress", "quiet", "-o", "json")
	if r.code != 0 {
		t.Fatalf("build: exit %d", r.code)
	}
	var out buildOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Targets) != 1 {
		t.Fatalf("build output: %v\n%s", err, r.stdout)
	}
	body, _, _ := manifest(t, ns+"/dev/golden-ami", out.Targets[0].Digest)
	rec := checkMachineImageRecord(t, ns+"/dev/golden-ami", out.Targets[0].Digest, body)

	nothingPromoted := func(name string) {
		t.Helper()
		if tg := tags(t, ns+"/staging/golden-ami"); len(tg) != 0 {
			t.Errorf("%s: staging has tags %v", name, tg)
		}
		for _, c := range ec2.Calls() {
			switch c.Action {
			case "CopyImage", "ModifyImageAttribute", "CreateTags":
				t.Errorf("%s: EC2 %s was called", name, c.Action)
			}
		}
	}

	ec2.ResetCalls()
	r = bakery(t, []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}, "promote", "golden-ami", "--to", "staging", "--config", cfg)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.code != 2 || len(lines) != 1 ||
		!strings.Contains(lines[0], "golden-ami") || !strings.Contains(lines[0], "AWS credentials") || !strings.Contains(lines[0], "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: exit %d\n%s", r.code, r.stderr)
	}
	nothingPromoted("no credentials")

	deregister(t, "us-east-1", rec.AMIs["us-east-1"])
	ec2.ResetCalls()
	r = bakery(t, nil, "promote", "golden-ami", "--to", "staging", "--config", cfg)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.code != 4 || len(lines) != 1 ||
		!strings.Contains(lines[0], "golden-ami") || !strings.Contains(lines[0], rec.AMIs["us-east-1"]) || !strings.Contains(lines[0], "not found") {
		t.Errorf("AMI not found: exit %d\n%s", r.code, r.stderr)
	}
	nothingPromoted("AMI not found")
}

// TestPluginCheck runs the Packer plugin SDK's own check on the plugin binary
// the tests use, and checks that packer lists every component of it.
func TestPluginCheck(t *testing.T) {
	sdc := filepath.Join(root, ".bakery/packer-sdc")
	cmd := exec.Command(sdc, "plugin-check", "packer-plugin-bakery")
	cmd.Dir = filepath.Dir(bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packer-sdc plugin-check: %v\n%s", err, out)
	}
	desc, err := exec.Command(filepath.Join(filepath.Dir(bin), "packer-plugin-bakery"), "describe").Output()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Version        string   `json:"version"`
		Builders       []string `json:"builders"`
		Provisioners   []string `json:"provisioners"`
		PostProcessors []string `json:"post_processors"`
		Datasources    []string `json:"datasources"`
	}
	if err := json.Unmarshal(desc, &d); err != nil {
		t.Fatal(err)
	}
	// Registered names become bakery-chroot, bakery-sbom, bakery-test, bakery, bakery-image.
	if d.Version == "" || !slices.Equal(d.Builders, []string{"chroot"}) || !slices.Equal(d.Provisioners, []string{"sbom", "test"}) ||
		!slices.Equal(d.PostProcessors, []string{"-packer-default-plugin-name-"}) || !slices.Equal(d.Datasources, []string{"image"}) {
		t.Errorf("describe: %s", desc)
	}
}
