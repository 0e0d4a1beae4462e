//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fleet hack/fleet.sh starts: two buildkitd daemons on TCP with mutual
// TLS, and the certificates it generated.
var (
	fleetAddrs = []string{getenv("BAKERY_NODE1_ADDR", "127.0.0.1:1241"), getenv("BAKERY_NODE2_ADDR", "127.0.0.1:1242")}
	fleetCerts = func() string { return filepath.Join(root, ".bakery/fleet/certs") }
)

// fleetProject is a project of n targets FROM scratch (or FROM the Debian
// base, with a RUN step that takes a few seconds, when slow) built on the
// two nodes; nodes is the builder.nodes YAML, %[1]s the certificates.
func fleetProject(t *testing.T, ns string, n int, slow bool, nodes string, platforms ...string) string {
	t.Helper()
	dir := t.TempDir()
	var targets strings.Builder
	files := map[string]string{}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("t%d", i)
		fmt.Fprintf(&targets, "  %s:\n    type: container\n    context: %s\n    args: {NONCE: %q}\n", name, name, ns)
		if len(platforms) > 0 {
			fmt.Fprintf(&targets, "    platforms: [%s]\n", strings.Join(platforms, ", "))
		}
		files[name+"/Dockerfile"] = "FROM scratch\nARG NONCE\nCOPY file /file\n"
		if slow {
			files[name+"/Dockerfile"] = "FROM " + baseImg + "\nARG NONCE\nRUN echo \"$NONCE\" > /nonce && sleep 6\nCOPY file /file\n"
		}
		files[name+"/file"] = ns + " " + name + "\n"
	}
	cfg := "version: 1\nbuilder:\n" + fmt.Sprintf(nodes, fleetCerts()) + "targets:\n" + targets.String() +
		projectTail(ns, regAddr+"/"+ns+"/prod")
	files["bakery.yaml"] = cfg
	writeFiles(t, dir, files)
	return filepath.Join(dir, "bakery.yaml")
}

// twoNodes lists the fleet; each node builds one target at a time.
func twoNodes(p1, p2 string) string {
	node := func(i int, plats string) string {
		s := fmt.Sprintf("    - name: node%d\n      address: tcp://%s\n      max_parallel: 1\n"+
			"      tls: {ca_cert: %%[1]s/ca.pem, cert: %%[1]s/client.pem, key: %%[1]s/client-key.pem}\n", i+1, fleetAddrs[i])
		if plats != "" {
			s += "      platforms: [" + plats + "]\n"
		}
		return s
	}
	return "  nodes:\n" + node(0, p1) + node(1, p2)
}

// fleetBuild builds every target of cfg with bakery's address override
// cleared (the project lists nodes) and returns each target's nodes.
func fleetBuild(t *testing.T, cfg string) (map[string]map[string]string, map[string]string, result) {
	t.Helper()
	r := bakery(t, []string{"BAKERY_BUILDER_ADDRESS="}, "build", "--config", cfg, "--progress", "plain", "-o", "json")
	var out struct {
		Targets []struct {
			Target, Digest string
			Nodes          map[string]string
			Platforms      []string
		}
	}
	nodes, digests := map[string]map[string]string{}, map[string]string{}
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("build output: %v\n%s", err, r.stdout)
		}
	}
	for _, tgt := range out.Targets {
		nodes[tgt.Target], digests[tgt.Target] = tgt.Nodes, tgt.Digest
	}
	return nodes, digests, r
}

// histories is what a node says it built (buildctl debug histories).
func histories(t *testing.T, addr string) string {
	t.Helper()
	c := fleetCerts()
	return run(t, nil, filepath.Join(root, ".bakery/buildctl"), "--addr", "tcp://"+addr, "--tlscacert", c+"/ca.pem",
		"--tlscert", c+"/client.pem", "--tlskey", c+"/client-key.pem", "debug", "histories", "--format", "{{json .}}")
}

// TestFleet builds on the two-node fleet: targets spread over both nodes
// (as bakery's JSON and each daemon's own history say), a two-platform
// target is split by the nodes' declared platforms and assembled into one
// index that verifies, promote --all moves every target, and killing a node
// mid-run moves its build to the other node and the run succeeds.
func TestFleet(t *testing.T) {
	t.Run("targets spread over both nodes, and promote --all", func(t *testing.T) {
		ns := runID + "-fleet-spread"
		cfg := fleetProject(t, ns, 4, false, twoNodes("", ""))
		nodes, digests, r := fleetBuild(t, cfg)
		if r.code != 0 || len(nodes) != 4 {
			t.Fatalf("build on the fleet: exit %d, %v", r.code, nodes)
		}
		used := map[string]bool{}
		for tgt, n := range nodes {
			node := n["linux/amd64"]
			used[node] = true
			i := slices.Index([]string{"node1", "node2"}, node)
			if i < 0 || !strings.Contains(histories(t, fleetAddrs[i]), strings.TrimPrefix(digests[tgt], "sha256:")) {
				t.Errorf("%s: bakery says %v built %s; that node's history does not have it", tgt, n, digests[tgt])
			}
		}
		if !used["node1"] || !used["node2"] {
			t.Errorf("the targets were not spread over both nodes: %v", nodes)
		}
		promoted, _, pr := promotions(t, cfg, "--all", "--to", "staging")
		if pr.code != 0 || len(promoted) != 4 {
			t.Errorf("promote --all --to staging: exit %d, %v", pr.code, promoted)
		}
	})

	t.Run("a two-platform target is split by the nodes' platforms", func(t *testing.T) {
		ns := runID + "-fleet-split"
		cfg := fleetProject(t, ns, 1, false, twoNodes("linux/amd64", "linux/arm64"), "linux/amd64", "linux/arm64")
		nodes, digests, r := fleetBuild(t, cfg)
		if r.code != 0 || nodes["t1"]["linux/amd64"] != "node1" || nodes["t1"]["linux/arm64"] != "node2" {
			t.Fatalf("split build: exit %d, nodes %v", r.code, nodes)
		}
		ref := regAddr + "/" + ns + "/dev/t1@" + digests["t1"]
		body, _, _ := manifest(t, ns+"/dev/t1", digests["t1"])
		if !strings.Contains(string(body), `"architecture":"arm64"`) || !strings.Contains(string(body), `"architecture":"amd64"`) {
			t.Errorf("the assembled index lacks a platform:\n%s", body)
		}
		if v := bakery(t, nil, "verify", ref, "--config", cfg); v.code != 0 {
			t.Errorf("bakery verify of the assembled index: exit %d\n%s", v.code, v.stderr)
		}
		if o, code := stockCosign(t, "verify", "--key", filepath.Join(keyDir, "trusted.pub"), "--insecure-ignore-tlog", ref); code != 0 {
			t.Errorf("stock cosign verify of the assembled index: exit %d\n%s", code, o)
		}
	})

	t.Run("a node killed mid-run: its build moves to the other node", func(t *testing.T) {
		ns := runID + "-fleet-kill"
		cfg := fleetProject(t, ns, 3, true, twoNodes("", ""))
		t.Cleanup(func() { run(t, nil, "bash", filepath.Join(root, "hack/fleet.sh"), "up") })
		pidFile := filepath.Join(root, ".bakery/fleet/node2/pid")
		go func() {
			// node2 is given t2 at once (node1 takes t1); kill it while it builds.
			time.Sleep(3 * time.Second)
			if b, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}()
		nodes, _, r := fleetBuild(t, cfg)
		if r.code != 0 || len(nodes) != 3 {
			t.Fatalf("build with node2 killed: exit %d, %v\n%s", r.code, nodes, r.stderr)
		}
		for tgt, n := range nodes {
			if n["linux/amd64"] != "node1" {
				t.Errorf("%s: built by %v, want node1 (node2 died)", tgt, n)
			}
		}
	})
}

// TestFleetBadInput: a node that refuses bakery's client certificate is a
// config error naming it; a duplicate address, a platform no node builds
// with emulation off, and unreadable certificate files are config errors;
// nothing is pushed for any of them.
func TestFleetBadInput(t *testing.T) {
	rogue := strings.ReplaceAll(twoNodes("", ""), "cert: %[1]s/client.pem, key: %[1]s/client-key.pem",
		"cert: %[1]s/rogue-client.pem, key: %[1]s/rogue-client-key.pem")
	dup := strings.Replace(twoNodes("", ""), fleetAddrs[1], fleetAddrs[0], 1)
	for _, tc := range []struct {
		name, nodes string
		platforms   []string
		want        []string
	}{
		{"client certificate from another CA", rogue, nil, []string{`buildkitd node "node1" (tcp://` + fleetAddrs[0] + `)`, "TLS refused"}},
		{"duplicate address", dup, nil, []string{"builder.nodes[1].address", "the same address"}},
		{"platform without a node, emulation off", twoNodes("linux/amd64", "linux/amd64") + "  emulation: false\n",
			[]string{"linux/s390x"}, []string{`target "t1"`, "no buildkitd node builds linux/s390x natively", "builder.emulation"}},
		{"unreadable certificate", strings.Replace(twoNodes("", ""), "client-key.pem", "missing-key.pem", 1), nil,
			[]string{"builder.nodes[0].tls.key", "no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := runID + "-fleet-bad-" + strings.ReplaceAll(strings.Split(tc.name, " ")[0], ",", "")
			cfg := fleetProject(t, ns, 1, false, tc.nodes, tc.platforms...)
			_, _, r := fleetBuild(t, cfg)
			line := errorText(t, r)
			if r.code != 2 || strings.Count(line, "\n") > 0 {
				t.Errorf("exit %d, want 2 with one line:\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not say %q", line, w)
				}
			}
			if code := headStatus(t, regAddr, ns+"/dev/t1", "dev"); code != 404 {
				t.Errorf("something was pushed: dev tag HEAD %d", code)
			}
		})
	}
}
