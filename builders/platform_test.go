package builders

import (
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPlatformOf(t *testing.T) {
	if p, err := PlatformOf(&v1.ConfigFile{OS: "linux", Architecture: "arm64", Variant: "v8"}); err != nil || p != "linux/arm64/v8" {
		t.Errorf("%q, %v", p, err)
	}
	if p, err := PlatformOf(&v1.ConfigFile{}); !errors.Is(err, ErrNoPlatform) {
		t.Errorf("a config without a platform: %q, %v", p, err)
	}
}
