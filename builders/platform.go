package builders

import (
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNoPlatform is the error of PlatformOf for an image config that names
// no platform.
var ErrNoPlatform = errors.New("the image config names no platform (os and architecture)")

// PlatformOf is the os/arch[/variant] an image config names, as Result's
// Platforms spell it. A config read from a registry may name none; that is
// ErrNoPlatform (go-containerregistry's Platform is then nil).
func PlatformOf(cf *v1.ConfigFile) (string, error) {
	p := cf.Platform()
	if p == nil {
		return "", ErrNoPlatform
	}
	return p.String(), nil
}
