package ci_test

import (
	"slices"
	"strings"
	"testing"
)

// gitlabGlobal are the top-level keywords of .gitlab-ci.yml that are not
// jobs (docs.gitlab.com/ee/ci/yaml).
var gitlabGlobal = []string{"stages", "variables", "default", "include", "workflow", "image", "services", "cache", "before_script", "after_script"}

// gitlabJobKeys are the job keywords this example may use.
var gitlabJobKeys = []string{"extends", "stage", "image", "services", "variables", "before_script", "script", "after_script",
	"rules", "needs", "environment", "artifacts", "when", "allow_failure", "tags", "timeout", "retry", "dependencies", "cache", "interruptible"}

// TestGitLabPipelineStructure checks what GitLab's CI schema and its linter
// would refuse, structurally (there is no network for GitLab's schema or
// lint API): known keys, every job's stage declared, extends and needs
// naming jobs, a script on every job, a manual prod job in environment prod.
func TestGitLabPipelineStructure(t *testing.T) {
	doc, _ := load(t, "gitlab-ci.yml")
	var stages []string
	for _, s := range doc["stages"].([]any) {
		stages = append(stages, s.(string))
	}
	jobs := map[string]map[string]any{}
	for k, v := range doc {
		if slices.Contains(gitlabGlobal, k) {
			continue
		}
		job, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: not a job or a global keyword", k)
			continue
		}
		jobs[k] = job
		for key := range job {
			if !slices.Contains(gitlabJobKeys, key) {
				t.Errorf("%s: unknown job keyword %q", k, key)
			}
		}
	}
	resolved := func(name, key string) any {
		for job := jobs[name]; job != nil; job = jobs[str(job["extends"])] {
			if v, ok := job[key]; ok {
				return v
			}
		}
		return nil
	}
	for name, job := range jobs {
		if strings.HasPrefix(name, ".") {
			continue
		}
		if ext := str(job["extends"]); ext != "" && jobs[ext] == nil {
			t.Errorf("%s extends %q, which is not defined", name, ext)
		}
		if !slices.Contains(stages, str(job["stage"])) {
			t.Errorf("%s: stage %q is not one of %v", name, job["stage"], stages)
		}
		if resolved(name, "script") == nil {
			t.Errorf("%s has no script", name)
		}
		needs, _ := job["needs"].([]any)
		for _, n := range needs {
			if jobs[str(n)] == nil || strings.HasPrefix(str(n), ".") {
				t.Errorf("%s needs %v, not a job", name, n)
			}
		}
	}
	prod := jobs["promote-prod"]
	if prod == nil || str(prod["stage"]) != stages[len(stages)-1] {
		t.Fatalf("no promote-prod job in the last stage: %v", prod)
	}
	if env, _ := prod["environment"].(map[string]any); env == nil || env["name"] != "prod" {
		t.Errorf("promote-prod environment = %v, want name: prod", prod["environment"])
	}
	manual := prod["when"] == "manual"
	rules, _ := prod["rules"].([]any)
	for _, r := range rules {
		manual = manual || r.(map[string]any)["when"] == "manual"
	}
	if !manual {
		t.Error("promote-prod is not when: manual")
	}
	script, _ := prod["script"].([]any)
	if len(script) != 1 || !strings.HasPrefix(str(script[0]), "bakery promote --metadata-file build.json --to prod") {
		t.Errorf("promote-prod runs %v", script)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
