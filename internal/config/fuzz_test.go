package config

import (
	"os"
	"testing"
)

// FuzzConfig feeds bakery.yaml's decoder and validator arbitrary bytes: they
// return errors, never panic.
func FuzzConfig(f *testing.F) {
	for _, p := range []string{"../../examples/bakery.yaml", "testdata/minimal.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\ntargets:\n  a: {type: container}\nenvironments:\n  - {name: dev, repository: r.example/x}\n"))
	f.Add([]byte("version: [\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := decodeStrict("bakery.yaml", raw)
		if err != nil {
			return
		}
		cfg.File, cfg.Dir = "bakery.yaml", "."
		cfg.applyDefaults()
		_ = cfg.validate(newLines("bakery.yaml", raw))
	})
}
