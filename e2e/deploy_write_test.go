//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deployFiles are the prod deploy files of TestDeployWriteBack, one per
// format, each with comments that must survive, and where bakery.yaml
// declares them.
var deployFiles = map[string]string{
	"deploy/prod/kustomization.yaml": `# prod overlay: bakery pins the app's digest here
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml # the app
images:
  # the app's image, pinned on promote
  - name: app
    newName: registry.example/app # replaced on promote
    newTag: "1.0"
`,
	"deploy/prod/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: app
`,
	"deploy/prod/values.yaml": `# Helm values for prod
replicaCount: 3
image:
  repository: registry.example/app # replaced on promote
  tag: "1.0"
`,
	"deploy/prod/manifest.yaml": `# the app as a plain manifest
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0 # pinned by bakery
        - name: proxy
          image: envoy:v1
---
apiVersion: v1
kind: Service
metadata:
  name: app
`,
	"deploy/prod/taskdef.json": `{
    "family": "app",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "registry.example/app:1.0",
            "essential": true
        }
    ]
}
`,
	"deploy/prod/prod.tfvars": `# prod variables
app_image     = "registry.example/app:1.0" # replaced on promote
desired_count = 3
`,
	"deploy/prod/other.yaml": "# not declared\n",
}

const deployDecl = `    deploy:
      files:
        - {path: deploy/prod/kustomization.yaml, format: kustomize, target: app, image: app}
        - {path: deploy/prod/values.yaml, format: helm, target: app}
        - {path: deploy/prod/manifest.yaml, format: manifest, target: app, image: app}
        - {path: deploy/prod/taskdef.json, format: ecs, target: app, image: app}
        - {path: deploy/prod/prod.tfvars, format: terraform, target: app, image: app_image}
`

// deployComments are comments of each written file that must survive.
var deployComments = map[string][]string{
	"deploy/prod/kustomization.yaml": {"# prod overlay: bakery pins the app's digest here", "# the app's image, pinned on promote", "# replaced on promote"},
	"deploy/prod/values.yaml":        {"# Helm values for prod", "# replaced on promote"},
	"deploy/prod/manifest.yaml":      {"# the app as a plain manifest", "# pinned by bakery"},
	"deploy/prod/prod.tfvars":        {"# prod variables", "# replaced on promote"},
}

// TestDeployWriteBack promotes a small target to prod with --write for all
// five formats against the real registry, and renders the kustomization
// with the stock kustomize: the Deployment runs exactly prod's
// repository@digest. The dry run prints diffs and writes nothing; a second
// run rewrites nothing; an undeclared path and a file broken before the
// promotion are exit 2 with prod's tag where it was; rollback --write pins
// the digest rolled back to.
func TestDeployWriteBack(t *testing.T) {
	kustomize := getenv("BAKERY_KUSTOMIZE", filepath.Join(root, ".bakery/kustomize"))
	if _, err := os.Stat(kustomize); err != nil {
		t.Fatalf("the stock kustomize is missing at %s: run `make up` first", kustomize)
	}
	ns := runID + "-gitops"
	dir := t.TempDir()
	prodRepo := regAddr + "/" + ns + "/prod"
	cfg := smallProject(t, dir, ns, prodRepo, "app")
	decl, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, deployFiles)
	writeFiles(t, dir, map[string]string{"bakery.yaml": string(decl) + deployDecl})
	var writes []string
	for _, f := range []string{"kustomization.yaml", "values.yaml", "manifest.yaml", "taskdef.json", "prod.tfvars"} {
		writes = append(writes, filepath.Join(dir, "deploy/prod", f))
	}
	// repeatable and comma-separated alike
	writeArgs := []string{"--write", strings.Join(writes[:3], ","), "--write", writes[3], "--write", writes[4]}
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, w := range writes {
			out[w] = readFile(t, w)
		}
		return out
	}
	unchanged := func(what string, before map[string]string) {
		t.Helper()
		for w, b := range before {
			if readFile(t, w) != b {
				t.Errorf("%s changed %s", what, w)
			}
		}
	}
	prodTag := func() string {
		t.Helper()
		code, d := headManifest(t, regAddr, ns+"/prod/app", "prod")
		if code == 404 {
			return ""
		}
		return d
	}

	x0 := rebuild(t, cfg, "app", "release one")
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("promote to staging: exit %d", r.code)
	}
	original := snapshot()

	// the dry run: a diff of each file, nothing written or promoted
	r := bakery(t, nil, append([]string{"promote", "app", "--to", "prod", "--dry-run", "--config", cfg}, writeArgs...)...)
	if r.code != 0 {
		t.Fatalf("--dry-run --write: exit %d\n%s", r.code, r.stdout)
	}
	for _, f := range []string{"kustomization.yaml", "values.yaml", "manifest.yaml", "taskdef.json", "prod.tfvars"} {
		if !strings.Contains(r.stdout, "+++ b/deploy/prod/"+f) {
			t.Errorf("--dry-run prints no diff of %s:\n%s", f, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "+    digest: "+x0) || !strings.Contains(r.stdout, prodRepo+"/app@"+x0) {
		t.Errorf("--dry-run diff does not pin %s:\n%s", x0, r.stdout)
	}
	unchanged("--dry-run", original)
	if d := prodTag(); d != "" {
		t.Fatalf("--dry-run promoted: prod runs %s", d)
	}

	// a path bakery.yaml does not declare: exit 2 before anything happens
	r = bakery(t, nil, "promote", "app", "--to", "prod", "--config", cfg, "--write", writes[0]+","+filepath.Join(dir, "deploy/prod/other.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "other.yaml: is not a deploy file of app in prod") || !strings.Contains(r.stderr, "deploy/prod/kustomization.yaml") {
		t.Errorf("--write of an undeclared path: exit %d, want 2 listing the declared ones\n%s", r.code, r.stderr)
	}
	unchanged("an undeclared --write", original)
	if d := prodTag(); d != "" {
		t.Fatalf("an undeclared --write promoted: prod runs %s", d)
	}

	// the promotion: every file pins prod's repository@digest, comments kept
	r = bakery(t, nil, append([]string{"promote", "app", "--to", "prod", "--config", cfg, "-o", "json"}, writeArgs...)...)
	if r.code != 0 {
		t.Fatalf("promote --write: exit %d\n%s", r.code, r.stdout)
	}
	if d := prodTag(); d != x0 {
		t.Fatalf("prod runs %q, want %s", d, x0)
	}
	written := writtenOf(t, r)
	if len(written) != 5 {
		t.Fatalf("written: %+v, want 5 files", written)
	}
	for _, w := range written {
		if !w.Changed || w.Ref != prodRepo+"/app@"+x0 {
			t.Errorf("written %+v, want changed to %s", w, prodRepo+"/app@"+x0)
		}
	}
	pinned(t, dir, prodRepo+"/app", x0)
	rendered(t, kustomize, filepath.Join(dir, "deploy/prod"), prodRepo+"/app@"+x0)

	// again: already promoted and pinned, nothing rewritten (not even mtimes)
	mtimes := map[string]time.Time{}
	for _, w := range writes {
		info, _ := os.Stat(w)
		mtimes[w] = info.ModTime()
	}
	r = bakery(t, nil, append([]string{"promote", "app", "--to", "prod", "--config", cfg, "-o", "json"}, writeArgs...)...)
	if r.code != 0 {
		t.Fatalf("promote --write again: exit %d", r.code)
	}
	for _, w := range writtenOf(t, r) {
		if w.Changed {
			t.Errorf("again: %s changed", w.File)
		}
	}
	for _, w := range writes {
		if info, _ := os.Stat(w); !info.ModTime().Equal(mtimes[w]) {
			t.Errorf("again: %s was rewritten", w)
		}
	}

	// a file broken before the promotion: exit 2, nothing promoted
	x1 := rebuild(t, cfg, "app", "release two")
	if r := bakery(t, nil, "promote", "app", "--to", "staging", "--config", cfg); r.code != 0 {
		t.Fatalf("promote x1 to staging: exit %d", r.code)
	}
	values := filepath.Join(dir, "deploy/prod/values.yaml")
	good := readFile(t, values)
	writeFiles(t, dir, map[string]string{"deploy/prod/values.yaml": good + "image: [\n"})
	before := snapshot()
	r = bakery(t, nil, append([]string{"promote", "app", "--to", "prod", "--config", cfg}, writeArgs...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "deploy/prod/values.yaml") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("a broken values.yaml: exit %d, want 2 and one line naming it\n%s", r.code, r.stderr)
	}
	if d := prodTag(); d != x0 {
		t.Errorf("prod's tag moved to %s although a deploy file was broken", d)
	}
	unchanged("a promotion stopped by a broken file", before)
	writeFiles(t, dir, map[string]string{"deploy/prod/values.yaml": good})
	if r := bakery(t, nil, append([]string{"promote", "app", "--to", "prod", "--config", cfg}, writeArgs...)...); r.code != 0 ||
		!strings.Contains(r.stdout, "wrote deploy/prod/kustomization.yaml") {
		t.Fatalf("promote x1 --write: exit %d\n%s", r.code, r.stdout)
	}
	pinned(t, dir, prodRepo+"/app", x1)

	// rollback --write pins the digest rolled back to
	r = bakery(t, nil, append([]string{"rollback", "app", "--env", "prod", "--reason", "INC-24", "--config", cfg, "-o", "json"}, writeArgs...)...)
	if r.code != 0 {
		t.Fatalf("rollback --write: exit %d", r.code)
	}
	if d := prodTag(); d != x0 {
		t.Fatalf("prod runs %s after the rollback, want %s", d, x0)
	}
	var rb struct{ Written []writtenFile }
	if err := json.Unmarshal([]byte(r.stdout), &rb); err != nil || len(rb.Written) != 5 {
		t.Fatalf("rollback -o json: %v\n%s", err, r.stdout)
	}
	pinned(t, dir, prodRepo+"/app", x0)
	rendered(t, kustomize, filepath.Join(dir, "deploy/prod"), prodRepo+"/app@"+x0)
}

type writtenFile struct {
	File, Format, Image, Ref string
	Changed                  bool
}

// writtenOf is the written files of a one-target promote -o json.
func writtenOf(t *testing.T, r result) []writtenFile {
	t.Helper()
	var out struct {
		Promotions []struct {
			Result struct{ Written []writtenFile }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Promotions) != 1 {
		t.Fatalf("promote -o json: %v\n%s", err, r.stdout)
	}
	return out.Promotions[0].Result.Written
}

// pinned checks that each deploy file pins repo@digest and kept its comments.
func pinned(t *testing.T, dir, repo, digest string) {
	t.Helper()
	ref := repo + "@" + digest
	want := map[string][]string{
		"deploy/prod/kustomization.yaml": {"newName: " + repo + " ", "digest: " + digest},
		"deploy/prod/values.yaml":        {"repository: " + repo + " ", "digest: " + digest},
		"deploy/prod/manifest.yaml":      {"image: " + ref + " # pinned by bakery", "image: envoy:v1"},
		"deploy/prod/taskdef.json":       {`            "image": "` + ref + `",`},
		"deploy/prod/prod.tfvars":        {`app_image     = "` + ref + `" # replaced on promote`},
	}
	for f, wants := range want {
		got := readFile(t, filepath.Join(dir, f))
		for _, w := range append(wants, deployComments[f]...) {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", f, w, got)
			}
		}
	}
	if got := readFile(t, filepath.Join(dir, "deploy/prod/kustomization.yaml")); strings.Contains(got, "newTag") {
		t.Errorf("kustomization.yaml keeps newTag:\n%s", got)
	}
}

// rendered runs the stock kustomize build on dir and checks the Deployment
// runs exactly ref.
func rendered(t *testing.T, kustomize, dir, ref string) {
	t.Helper()
	out, err := exec.Command(kustomize, "build", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
	}
	var images []string
	for _, l := range strings.Split(string(out), "\n") {
		if s := strings.TrimPrefix(strings.TrimSpace(l), "- "); strings.HasPrefix(s, "image: ") {
			images = append(images, strings.TrimPrefix(s, "image: "))
		}
	}
	if len(images) != 1 || images[0] != ref {
		t.Errorf("kustomize build renders images %q, want exactly [%s]\n%s", images, ref, out)
	}
}
