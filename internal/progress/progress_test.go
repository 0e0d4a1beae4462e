package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"

	"github.com/bakeryhq/bakery/internal/env"
)

func TestPrinterPrefixesEachStream(t *testing.T) {
	var out bytes.Buffer
	p, err := NewPrinter(context.Background(), &out, "rawjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"web", "api"} {
		ch := p.Stream(target)
		go func() {
			defer close(ch)
			ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: digest.FromString(target), Name: "RUN make"}}}
		}()
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var st client.SolveStatus
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, v := range st.Vertexes {
			names = append(names, v.Name)
		}
	}
	got := strings.Join(names, "|")
	if !strings.Contains(got, "[web] RUN make") || !strings.Contains(got, "[api] RUN make") {
		t.Errorf("vertex names = %v", names)
	}
}

func TestPrinterRejectsUnknownModeAndTTYWithoutTerminal(t *testing.T) {
	if _, err := NewPrinter(context.Background(), &bytes.Buffer{}, "fancy"); err == nil {
		t.Error("mode fancy accepted")
	}
	if _, err := NewPrinter(context.Background(), &bytes.Buffer{}, "tty"); err == nil {
		t.Error("tty accepted for a non-terminal")
	}
}

func TestStepStartsAndCompletes(t *testing.T) {
	var out bytes.Buffer
	p, err := NewPrinter(context.Background(), &out, "rawjson")
	if err != nil {
		t.Fatal(err)
	}
	Step(p, "web", "sbom linux/amd64")(nil)
	Step(p, "web", "sign")(errors.New("boom"))
	Step(nil, "web", "ignored")(nil)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{`"name":"[web] sbom linux/amd64"`, `"completed"`, `"error":"boom"`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s:\n%s", want, s)
		}
	}
}

// TestAutoIsPlainInCI: in a CI job auto means plain lines with elapsed
// times; an explicit mode is kept.
func TestAutoIsPlainInCI(t *testing.T) {
	t.Setenv(env.CI.String(), "")
	t.Setenv(env.GitLabCI.String(), "")
	if got := Mode("auto"); got != "auto" {
		t.Errorf("outside CI: %s", got)
	}
	t.Setenv(env.CI.String(), "true")
	if got := Mode("auto"); got != "plain" {
		t.Errorf("in CI: %s, want plain", got)
	}
	if got := Mode("tty"); got != "tty" {
		t.Errorf("explicit tty in CI: %s", got)
	}
}
