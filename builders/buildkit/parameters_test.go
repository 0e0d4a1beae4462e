package buildkit

import (
	"encoding/json"
	"testing"

	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
)

// mapInputs is how inputs wrote a target's external parameters as a map,
// before builders.Parameters: the wire format that must not change.
func mapInputs(t *config.Target, dockerfileSHA256, contextSHA256 string, src *builders.Source) map[string]any {
	secrets := make([]map[string]string, 0, len(t.Secrets))
	for _, s := range t.Secrets {
		kind := "file"
		if s.Env != "" {
			kind = "env"
		}
		secrets = append(secrets, map[string]string{"id": s.ID, "source": kind})
	}
	params := map[string]any{
		"target": map[string]any{
			"name": t.Name, "type": t.Type, "context": t.Context, "dockerfile": t.Dockerfile,
			"stage": t.Target, "platforms": t.Platforms, "labels": t.Labels,
			"secrets": secrets, "cache_from": t.CacheFrom, "cache_to": t.CacheTo,
		},
		"args": t.Args,
		"dockerfile": map[string]any{
			"path":   t.Dockerfile,
			"digest": map[string]string{"sha256": dockerfileSHA256},
		},
		"context": map[string]any{
			"path":   t.Context,
			"digest": map[string]string{"sha256": contextSHA256},
		},
	}
	if src != nil {
		params["source"] = src
	}
	return params
}

// TestInputsWireFormat: the typed parameters encode to the bytes the map
// did, for a bare target and a full one, with and without a git source.
func TestInputsWireFormat(t *testing.T) {
	full := &config.Target{Name: "web", Type: config.TypeContainer, Context: "app", Dockerfile: "Dockerfile", Target: "prod",
		Args: map[string]string{"BASE": "r/base:dev", "V": "1"}, Labels: map[string]string{"team": "web"},
		Platforms: []string{"linux/amd64", "linux/arm64"}, CacheFrom: []string{"type=registry,ref=r/cache"}, CacheTo: []string{},
		Secrets: []config.Secret{{ID: "npm", File: "/run/npm"}, {ID: "tok", Env: "TOKEN"}}}
	src := &builders.Source{URI: "https://git.example/app.git", Commit: "abc", Dirty: true}
	for _, tc := range []struct {
		name string
		t    *config.Target
		src  *builders.Source
	}{
		{"bare", &config.Target{Name: "x"}, nil},
		{"full", full, nil},
		{"full, in git", full, src},
		{"bare, in git", &config.Target{Name: "x", Type: config.TypeContainer}, &builders.Source{Commit: "abc"}},
	} {
		want, err := json.Marshal(mapInputs(tc.t, "d0", "c0", tc.src))
		if err != nil {
			t.Fatal(err)
		}
		p := inputs(tc.t, "d0", "c0")
		p.Source = tc.src
		got, err := json.Marshal(builders.Parameters{Container: p})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
		var back builders.Parameters
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); string(again) != string(want) {
			t.Errorf("%s: decoded and encoded again:\n got %s\nwant %s", tc.name, again, want)
		}
	}
}
