package ec2local

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Image states, as EC2 reports them.
const (
	StateAvailable = "available"
	StatePending   = "pending"
	StateFailed    = "failed"
	StateDisabled  = "disabled"
)

// Image is a machine image (AMI) held by the server.
type Image struct {
	ID           string
	Name         string
	Region       string
	State        string
	Architecture string
	Description  string
	// RootDeviceName is the device name of the root volume ("/dev/xvda").
	RootDeviceName string
	OwnerID        string
	CreationDate   time.Time
	Tags           map[string]string
	// LaunchPermissions are the account ids the image is shared with.
	LaunchPermissions []string
	// Public is true when the image is shared with the group "all".
	Public bool
	// SourceImageID and SourceRegion name the image CopyImage copied from.
	SourceImageID string
	SourceRegion  string
	// DeprecationTime is when the image is deprecated (zero: never).
	DeprecationTime time.Time
}

// image is an Image as the server stores it.
type image struct {
	Image
	devices []blockDevice
	// polls is how many more DescribeImages answers report a pending copy
	// as pending.
	polls int
}

// blockDevice is a block device mapping of an image.
type blockDevice struct {
	DeviceName          string
	SnapshotID          string
	VolumeSize          string
	VolumeType          string
	DeleteOnTermination string
}

// token records a CopyImage client token: the image it created and the
// request it was used with.
type token struct {
	id     string
	params string
}

var amiID = regexp.MustCompile(`^ami-[0-9a-f]+$`)

// amiName is the set of names EC2 accepts for an AMI.
var amiName = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)

// Seed adds img to region as if it had been registered, and returns its id.
// Its root device is backed by a snapshot snap-HEX (HEX: the image id's hex
// digits) described as CreateImage describes its snapshots.
// Empty fields get defaults: a new id, state available, architecture x86_64,
// the server's owner id and the current time. Seed panics if img.ID is set
// but is not an AMI id (ami- and hex digits), which is a bug in the test.
func (s *Server) Seed(region string, img Image) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if img.ID == "" {
		img.ID = s.newID()
	} else if !amiID.MatchString(img.ID) {
		panic(fmt.Sprintf("ec2local: Seed: malformed image id %q", img.ID))
	}
	img.Region = region
	if img.Name == "" {
		img.Name = "seed-" + img.ID
	}
	if img.State == "" {
		img.State = StateAvailable
	}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	if img.OwnerID == "" {
		img.OwnerID = s.owner
	}
	if img.CreationDate.IsZero() {
		img.CreationDate = s.now()
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = "/dev/xvda"
	}
	img.Tags = maps.Clone(img.Tags)
	img.LaunchPermissions = slices.Clone(img.LaunchPermissions)
	hexID := strings.TrimPrefix(img.ID, "ami-")
	snap := &Snapshot{
		ID: "snap-" + hexID, Region: region, StartTime: img.CreationDate,
		Description: CreateImageDescription("i-"+hexID, img.ID, "vol-"+hexID),
	}
	s.putSnapshot(snap)
	s.put(&image{Image: img, devices: []blockDevice{{DeviceName: img.RootDeviceName, SnapshotID: snap.ID, VolumeSize: "8", VolumeType: "gp3", DeleteOnTermination: "true"}}})
	return img.ID
}

// Image returns a copy of the image id in region.
func (s *Server) Image(region, id string) (Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[region][id]
	if !ok {
		return Image{}, false
	}
	return img.snapshot(), true
}

// Images returns copies of the images in region, ordered by id. An empty
// region returns the images of every region, ordered by region, then id.
func (s *Server) Images(region string) []Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	var regions []string
	if region == "" {
		regions = slices.Sorted(maps.Keys(s.images))
	} else {
		regions = []string{region}
	}
	var out []Image
	for _, r := range regions {
		for _, img := range s.sorted(r) {
			out = append(out, img.snapshot())
		}
	}
	return out
}

// snapshot returns a copy of the image that shares no memory with it.
func (img *image) snapshot() Image {
	out := img.Image
	out.Tags = maps.Clone(img.Tags)
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	out.LaunchPermissions = slices.Clone(img.LaunchPermissions)
	return out
}

// sorted returns the images of region ordered by id. s.mu is held.
func (s *Server) sorted(region string) []*image {
	imgs := slices.Collect(maps.Values(s.images[region]))
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].ID < imgs[j].ID })
	return imgs
}

// put stores img in its region. s.mu is held.
func (s *Server) put(img *image) {
	if s.images[img.Region] == nil {
		s.images[img.Region] = map[string]*image{}
	}
	s.images[img.Region][img.ID] = img
}

// lookup returns the image id in region, or InvalidAMIID.Malformed or
// InvalidAMIID.NotFound. s.mu is held.
func (s *Server) lookup(region, id string) (*image, *apiError) {
	if !amiID.MatchString(id) {
		return nil, errAMIMalformed(id)
	}
	img, ok := s.images[region][id]
	if !ok {
		return nil, errAMINotFound(id)
	}
	return img, nil
}

// newID returns an image id no region holds yet: "ami-" and 17 hex digits,
// derived from a counter so runs are reproducible. s.mu is held.
func (s *Server) newID() string {
	for {
		s.seq++
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], s.seq)
		sum := sha256.Sum256(b[:])
		id := "ami-" + hex.EncodeToString(sum[:9])[:17]
		if !s.exists(id) {
			return id
		}
	}
}

func (s *Server) exists(id string) bool {
	for _, imgs := range s.images {
		if _, ok := imgs[id]; ok {
			return true
		}
	}
	return false
}

// checkName returns an error unless name is a valid AMI name that no image
// in region uses. s.mu is held.
func (s *Server) checkName(region, name string) *apiError {
	if name == "" {
		return errMissing("Name")
	}
	if !amiName.MatchString(name) {
		return errorf("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'")
	}
	for _, img := range s.images[region] {
		if img.Name == name {
			return errorf("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, img.ID)
		}
	}
	return nil
}
