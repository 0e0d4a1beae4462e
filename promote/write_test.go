package promote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// declareDeploy gives the fixture's staging a kustomization to pin, and
// returns its path.
func (f *fixture) declareDeploy(t *testing.T) string {
	t.Helper()
	f.cfg.Dir = t.TempDir()
	path := filepath.Join(f.cfg.Dir, "kustomization.yaml")
	content := "# staging\nimages:\n  - name: app # ours\n    newTag: latest\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f.cfg.Environments[1].Deploy = &config.Deploy{Files: []config.DeployFile{{Path: "kustomization.yaml", Format: config.FormatKustomize, Target: "app", Image: "app"}}}
	return path
}

func TestPromoteWritesAfterTheReceipt(t *testing.T) {
	f := newFixture(t)
	path := f.declareDeploy(t)
	src := f.buildIntoDev(t)
	res, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Write: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	want := "newName: " + f.prod.host + "/staging/app\n    digest: " + src.DigestStr()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), want) || !strings.Contains(string(b), "# ours") || !res.Receipt {
		t.Fatalf("kustomization after promotion:\n%s\nwant %q", b, want)
	}
	if len(res.Written) != 1 || !res.Written[0].Changed || res.Written[0].Ref != f.prod.host+"/staging/app@"+src.DigestStr() {
		t.Errorf("Written = %+v", res.Written)
	}
	// again: already promoted, the file is already pinned
	res, err = f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Write: []string{path}})
	if err != nil || !res.AlreadyPromoted || len(res.Written) != 1 || res.Written[0].Changed {
		t.Errorf("again: err %v, res %+v", err, res)
	}
}

func TestPromoteWithABrokenDeployFileCopiesNothing(t *testing.T) {
	f := newFixture(t)
	path := f.declareDeploy(t)
	f.buildIntoDev(t)
	if err := os.WriteFile(path, []byte("images: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.promoter.Promote(f.ctx, Request{Target: "app", To: "staging", Write: []string{path}})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), "kustomization.yaml") {
		t.Fatalf("err = %v, want a config error naming kustomization.yaml", err)
	}
	if _, ok := f.stagingTag(t); ok {
		t.Error("staging was tagged although the write-back could not happen")
	}
	if err := f.promoter.CheckWrites([]Step{{Request: Request{Target: "app", To: "staging"}}}, []string{filepath.Join(f.cfg.Dir, "other.yaml")}); failure.ClassOf(err) != failure.Config {
		t.Errorf("CheckWrites of an undeclared path: %v", err)
	}
}

func TestRollbackWritesThePreviousDigest(t *testing.T) {
	f := newFixture(t)
	path := f.declareDeploy(t)
	first := f.buildAndPromote(t)
	f.buildAndPromote(t)
	res, err := f.promoter.RollbackWith(f.ctx, RollbackRequest{Target: "app", Env: "staging", Write: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if res.Digest != first.DigestStr() || !strings.Contains(string(b), "digest: "+first.DigestStr()) || len(res.Written) != 1 {
		t.Errorf("rolled back to %s, wrote %+v:\n%s", res.Digest, res.Written, b)
	}
}
