package chroot

import (
	"os"
	"sort"
	"strings"
)

// Artifact is a packed rootfs and, when registered, its AMI.
type Artifact struct {
	File      string
	AMIs      map[string]string
	Generated map[string]interface{}
}

// BuilderId is BuilderID.
func (a *Artifact) BuilderId() string { return BuilderID }

// Files is the packed rootfs.
func (a *Artifact) Files() []string { return []string{a.File} }

// Id is "region:ami-id,..." like the amazon builders' when the image was
// registered, the rootfs path otherwise.
func (a *Artifact) Id() string {
	if len(a.AMIs) == 0 {
		return a.File
	}
	parts := make([]string, 0, len(a.AMIs))
	for r, id := range a.AMIs {
		parts = append(parts, r+":"+id)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (a *Artifact) String() string { return "bakery-chroot image: " + a.Id() }

// State returns the build's generated data under "generated_data".
func (a *Artifact) State(name string) interface{} {
	if name == "generated_data" {
		return a.Generated
	}
	return nil
}

// Destroy removes the packed rootfs (not the AMI).
func (a *Artifact) Destroy() error { return os.Remove(a.File) }
