//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestFindAndOutdated: bakery find locates a Debian package in every
// environment that runs it (golden base and the app built on it), version
// ranges follow dpkg's order, and bakery outdated flags the app once the
// base it was built FROM is rebuilt.
func TestFindAndOutdated(t *testing.T) {
	ns := runID + "-find"
	cfg := chainProject(t, ns)
	writeFiles(t, filepath.Dir(cfg), map[string]string{
		"base/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY release.txt /etc/base-release\n",
		"bakery.yaml": strings.Replace(readFile(t, cfg), "    context: base\n",
			"    context: base\n    args:\n      BASE: "+baseImg+"\n", 1),
	})
	buildTargets(t, cfg, nil, "base")
	buildTargets(t, cfg, nil, "app")
	for _, tgt := range []string{"base", "app"} {
		if r := bakery(t, nil, "promote", tgt, "--to", "staging", "--config", cfg); r.code != 0 {
			t.Fatalf("promote %s: exit %d\n%s", tgt, r.code, r.stderr)
		}
	}

	find := func(args ...string) ([]map[string]any, result) {
		t.Helper()
		r := bakery(t, nil, append([]string{"find", "--config", cfg, "-o", "json"}, args...)...)
		var out []map[string]any
		if r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("find %v: %v\n%s", args, err, r.stdout)
			}
		}
		return out, r
	}
	matches, r := find("base-files")
	where := map[string]bool{}
	for _, m := range matches {
		where[m["target"].(string)+"/"+m["environment"].(string)] = true
	}
	if r.code != 0 || len(where) != 4 || !where["app/staging"] || !where["base/dev"] {
		t.Errorf("find base-files: exit %d, in %v\n%s", r.code, where, r.stderr)
	}
	if m, r := find("base-files@<1"); r.code != 0 || len(m) != 0 {
		t.Errorf("find base-files@<1: exit %d, %d matches", r.code, len(m))
	}
	if m, r := find("base-files@>=12~,<13"); r.code != 0 || len(m) != 4 {
		t.Errorf("find base-files@>=12~,<13 (dpkg order: 12~ sorts before 12): exit %d, %d matches", r.code, len(m))
	}
	if _, r := find("base-files@>=12,<"); r.code != 2 {
		t.Errorf("a malformed range: exit %d, want 2\n%s", r.code, r.stderr)
	}

	if r := bakery(t, nil, "outdated", "--check", "--config", cfg); r.code != 0 {
		t.Errorf("outdated --check before the base moved: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"base/release.txt": "a patched base\n"})
	buildTargets(t, cfg, nil, "base") // app's base tag moves on
	r = bakery(t, nil, "outdated", "--check", "--config", cfg)
	if r.code != 4 || !strings.Contains(r.stderr, "app in dev") || !strings.Contains(r.stderr, "app in staging") || strings.Contains(r.stderr, "base in") {
		t.Errorf("outdated --check after the base moved: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkIfOutdated(t, cfg)
}

// checkIfOutdated: build --if-outdated rebuilds the app whose base moved and
// not the base; after a change to the base's context it rebuilds the base
// and then the app built on it; then nothing.
func checkIfOutdated(t *testing.T, cfg string) {
	t.Helper()
	ifOutdated := func(want ...string) string {
		t.Helper()
		r := bakery(t, nil, "build", "--if-outdated", "--config", cfg, "-o", "json")
		var out buildOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
			t.Fatalf("build --if-outdated: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		var got []string
		for _, tgt := range out.Targets {
			got = append(got, tgt.Target)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("build --if-outdated built %v, want %v\n%s", got, want, r.stderr)
		}
		return r.stderr
	}
	if stderr := ifOutdated("app"); !strings.Contains(stderr, "app: rebuilding: base "+regAddr) ||
		!strings.Contains(stderr, "base: up to date") {
		t.Errorf("the app's base moved:\n%s", stderr)
	}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"base/release.txt": "patched again\n"})
	if stderr := ifOutdated("app", "base"); !strings.Contains(stderr, "base: rebuilding: its context directory changed") ||
		!strings.Contains(stderr, "its base target base is rebuilt") {
		t.Errorf("the base's context changed:\n%s", stderr)
	}
	// The app was built after the base, on the new one: dev is current.
	if r := bakery(t, nil, "outdated", "app", "--check", "--config", cfg); r.code != 4 || strings.Contains(r.stderr, "app in dev") {
		t.Errorf("outdated after --if-outdated rebuilt base then app: exit %d, want 4 for staging only\n%s%s", r.code, r.stdout, r.stderr)
	}
	ifOutdated()
}

// TestSBOMDeltaAndDiff: an app rebuilt with a package staging does not run
// yet is denied by the sbom_delta policy (the package is outside
// policy.package_allowlist), and bakery diff shows the package it adds.
func TestSBOMDeltaAndDiff(t *testing.T) {
	ns := runID + "-delta"
	cfg := chainProject(t, ns)
	dir := filepath.Dir(cfg)
	extra := "Package: netcat-fake\nStatus: install ok installed\nPriority: optional\nSection: net\n" +
		"Installed-Size: 1\nMaintainer: e2e <e2e@example.com>\nArchitecture: amd64\nVersion: 1.10-47\nDescription: not really\n\n"
	writeFiles(t, dir, map[string]string{
		"base/Dockerfile":  "ARG BASE\nFROM ${BASE}\nCOPY release.txt /etc/base-release\n",
		"app/Dockerfile":   "ARG BASE\nFROM ${BASE}\nCOPY app.txt /etc/app\nCOPY extra-status /tmp/extra-status\nRUN cat /tmp/extra-status >> /var/lib/dpkg/status && rm /tmp/extra-status\n",
		"app/extra-status": "",
		"bakery.yaml": strings.NewReplacer(
			"    context: base\n", "    context: base\n    args:\n      BASE: "+baseImg+"\n",
			"policy:\n", "policy:\n  package_allowlist: [hello]\n",
			"    policies: [signed, sbom, provenance, promoted_through]\n  - name: prod", "    policies: [signed, sbom, provenance, promoted_through, sbom_delta]\n  - name: prod",
		).Replace(readFile(t, cfg)),
	})
	buildTargets(t, cfg, nil, "base")
	first := buildTargets(t, cfg, nil, "app")["app"]
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("first promotion (staging runs nothing yet: no delta): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeFiles(t, dir, map[string]string{"app/extra-status": extra})
	second := buildTargets(t, cfg, nil, "app")["app"]

	r := bakery(t, nil, "diff", first, second, "--config", cfg, "-o", "json")
	var d struct {
		Added            []struct{ Name, Version string } `json:"added"`
		Removed, Changed []any
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Added) != 1 || d.Added[0].Name != "netcat-fake" ||
		d.Added[0].Version != "1.10-47" || len(d.Removed) != 0 || len(d.Changed) != 0 {
		t.Errorf("diff: exit %d %+v\n%s%s", r.code, d, r.stdout, r.stderr)
	}
	r = bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg)
	if r.code != 5 || !strings.Contains(r.stdout, "sbom_delta: package netcat-fake 1.10-47 is new to staging and not in policy.package_allowlist") {
		t.Errorf("promote of the app with a new package: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestOutdatedComparesWhatTheBuildConsumed: the app is built for
// linux/amd64 FROM a two-platform golden base. A rebuild of the base that
// changes only its arm64 image gives the base a new index, but the app
// consumed the amd64 image, which did not change: outdated --check says the
// app is current. A rebuild that changes the amd64 image makes it stale.
func TestOutdatedComparesWhatTheBuildConsumed(t *testing.T) {
	ns := runID + "-consumed"
	cfg := chainProject(t, ns)
	dir := filepath.Dir(cfg)
	writeFiles(t, dir, map[string]string{
		"base/Dockerfile": "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /etc/base-release\n",
		"base/amd64.txt":  "amd64 1\n",
		"base/arm64.txt":  "arm64 1\n",
		"bakery.yaml": strings.Replace(readFile(t, cfg), "    context: base\n",
			"    context: base\n    platforms: [linux/amd64, linux/arm64]\n", 1),
	})
	digest := func(ref string) string { return ref[strings.LastIndex(ref, "@")+1:] }
	first := digest(buildTargets(t, cfg, nil, "base")["base"])
	buildTargets(t, cfg, nil, "app")
	outdated := func() ([]map[string]any, result) {
		t.Helper()
		r := bakery(t, nil, "outdated", "app", "--check", "--config", cfg, "-o", "json")
		var bases []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &bases); err != nil || len(bases) != 1 {
			t.Fatalf("outdated: exit %d (%v), want the app's one base in dev\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		return bases, r
	}
	if b, r := outdated(); r.code != 0 || b[0]["recorded"] != first || b[0]["stale"] != false {
		t.Fatalf("outdated before the base moved: exit %d, %v; want current, built on the base index %s", r.code, b, first)
	}

	writeFiles(t, dir, map[string]string{"base/arm64.txt": "arm64 2\n"})
	second := digest(buildTargets(t, cfg, nil, "base")["base"])
	if second == first {
		t.Fatalf("a base with a new arm64 image kept its index digest %s", first)
	}
	if b, r := outdated(); r.code != 0 || b[0]["current"] != second || b[0]["stale"] != false {
		t.Errorf("outdated after only the base's arm64 image changed: exit %d, %v; want current (the app consumed the same amd64 image)\n%s", r.code, b, r.stderr)
	}

	writeFiles(t, dir, map[string]string{"base/amd64.txt": "amd64 2\n"})
	third := digest(buildTargets(t, cfg, nil, "base")["base"])
	if b, r := outdated(); r.code != 4 || b[0]["current"] != third || b[0]["stale"] != true || !strings.Contains(r.stderr, "app in dev") {
		t.Errorf("outdated after the base's amd64 image changed: exit %d, %v; want 4, stale\n%s", r.code, b, r.stderr)
	}
}
