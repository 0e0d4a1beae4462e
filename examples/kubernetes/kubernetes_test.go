// Package kubernetes_test checks the Kubernetes fleet example: the manifests
// decode as Deployments and Services whose buildkitd listens with mutual TLS,
// and bakery.yaml loads, its nodes pointing at those Services.
package kubernetes_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/internal/config"
)

type object struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Ports    []struct{ Port int }
		Template struct {
			Spec struct {
				NodeSelector map[string]string `yaml:"nodeSelector"`
				Containers   []struct {
					Image string
					Args  []string
				}
			}
		}
	}
}

func TestManifestsAndConfigAgree(t *testing.T) {
	raw, err := os.ReadFile("buildkitd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	services := map[string]int{}
	deployments := 0
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch o.Kind {
		case "Service":
			services[o.Metadata.Name] = o.Spec.Ports[0].Port
		case "Deployment":
			deployments++
			c := o.Spec.Template.Spec.Containers[0]
			args := strings.Join(c.Args, " ")
			for _, want := range []string{"--addr tcp://0.0.0.0:1234", "--tlscacert /certs/ca.pem", "--tlscert /certs/cert.pem", "--tlskey /certs/key.pem"} {
				if !strings.Contains(args, want) {
					t.Errorf("%s: buildkitd args %q lack %q (mutual TLS on TCP)", o.Metadata.Name, args, want)
				}
			}
			arch := o.Spec.Template.Spec.NodeSelector["kubernetes.io/arch"]
			if !strings.HasSuffix(o.Metadata.Name, arch) {
				t.Errorf("%s runs on %q nodes", o.Metadata.Name, arch)
			}
		default:
			t.Errorf("unexpected kind %q", o.Kind)
		}
	}
	if deployments != 2 || len(services) != 2 {
		t.Fatalf("%d deployments, services %v", deployments, services)
	}

	// bakery.yaml loads (its certificate paths pointed at readable files),
	// and each node is one of the Services, building its own architecture.
	cfgRaw, err := os.ReadFile("bakery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "bakery.yaml")
	if err := os.WriteFile(file, bytes.ReplaceAll(cfgRaw, []byte("/certs/"), []byte(dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Builder.EmulationAllowed() || len(cfg.Builder.Nodes) != 2 {
		t.Errorf("builder: %+v", cfg.Builder)
	}
	for _, n := range cfg.Builder.Nodes {
		svc := "buildkitd-" + n.Name
		if n.Address != fmt.Sprintf("tcp://%s:%d", svc, services[svc]) || !slices.Equal(n.Platforms, []string{"linux/" + n.Name}) {
			t.Errorf("node %+v does not match Service %s (port %d)", n, svc, services[svc])
		}
	}
}
