package ec2local

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SnapshotCompleted is the state of every snapshot the server holds: it
// makes and copies snapshots at once.
const SnapshotCompleted = "completed"

// defaultVolumeSize is the size, in GiB, of a snapshot whose block device
// mapping names none.
const defaultVolumeSize = 8

// Snapshot is an EBS snapshot held by the server. Each EBS block device of an
// image is backed by one: RegisterImage records the snapshots its block
// device mappings name (inventing those the server does not know yet), Seed
// makes one per image, and CopyImage makes new ones, with ids of their own,
// in the destination region. DeregisterImage keeps an image's snapshots, as
// EC2 does; DeleteSnapshot deletes one that no image in its region uses.
type Snapshot struct {
	ID     string
	Region string
	// State is SnapshotCompleted.
	State string
	// VolumeSize is the size of the snapshot's volume, in GiB.
	VolumeSize  int
	Description string
	OwnerID     string
	StartTime   time.Time
	Tags        map[string]string
}

var snapshotID = regexp.MustCompile(`^snap-[0-9a-f]+$`)

// Snapshot returns a copy of the snapshot id in region.
func (s *Server) Snapshot(region, id string) (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.snapshots[region][id]
	if !ok {
		return Snapshot{}, false
	}
	return snap.clone(), true
}

// Snapshots returns copies of the snapshots in region, ordered by id. An
// empty region returns the snapshots of every region, ordered by region, then
// id.
func (s *Server) Snapshots(region string) []Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var regions []string
	if region == "" {
		regions = slices.Sorted(maps.Keys(s.snapshots))
	} else {
		regions = []string{region}
	}
	var out []Snapshot
	for _, r := range regions {
		for _, id := range slices.Sorted(maps.Keys(s.snapshots[r])) {
			out = append(out, s.snapshots[r][id].clone())
		}
	}
	return out
}

// clone returns a copy of the snapshot that shares no memory with it.
func (snap *Snapshot) clone() Snapshot {
	out := *snap
	out.Tags = maps.Clone(snap.Tags)
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return out
}

// putSnapshot stores snap in its region, completed, owned by the server's
// account and started now unless said otherwise. s.mu is held.
func (s *Server) putSnapshot(snap *Snapshot) {
	if snap.State == "" {
		snap.State = SnapshotCompleted
	}
	if snap.OwnerID == "" {
		snap.OwnerID = s.owner
	}
	if snap.StartTime.IsZero() {
		snap.StartTime = s.now()
	}
	if snap.VolumeSize <= 0 {
		snap.VolumeSize = defaultVolumeSize
	}
	if snap.Tags == nil {
		snap.Tags = map[string]string{}
	}
	if s.snapshots[snap.Region] == nil {
		s.snapshots[snap.Region] = map[string]*Snapshot{}
	}
	s.snapshots[snap.Region][snap.ID] = snap
}

// recordSnapshots records the snapshots that the devices of an image
// registered in region name and the server does not know yet. s.mu is held.
func (s *Server) recordSnapshots(region string, devices []blockDevice) {
	for _, d := range devices {
		if d.SnapshotID == "" || s.snapshots[region][d.SnapshotID] != nil {
			continue
		}
		s.putSnapshot(&Snapshot{ID: d.SnapshotID, Region: region, VolumeSize: volumeSize(d.VolumeSize)})
	}
}

// copyDevices gives the devices of dst, a copy of src made in region, new
// snapshots of their own there, described as EC2 describes them. s.mu is
// held.
func (s *Server) copyDevices(region string, src *image, dst string) []blockDevice {
	var out []blockDevice
	for _, d := range src.devices {
		if d.SnapshotID != "" {
			size := volumeSize(d.VolumeSize)
			if orig, ok := s.snapshots[src.Region][d.SnapshotID]; ok {
				size = orig.VolumeSize
			}
			snap := &Snapshot{
				ID: s.newSnapshotID(), Region: region, VolumeSize: size,
				Description: CopyImageDescription(dst, src.ID, d.SnapshotID, s.now()),
			}
			s.putSnapshot(snap)
			d.SnapshotID = snap.ID
		}
		out = append(out, d)
	}
	return out
}

// CreateImageDescription is the description EC2 gives the snapshot of volume
// vol that CreateImage makes of instance for the image ami: Seed describes
// its snapshots so.
func CreateImageDescription(instance, ami, vol string) string {
	return fmt.Sprintf("Created by CreateImage(%s) for %s from %s", instance, ami, vol)
}

// CopyImageDescription is the description EC2 gives the snapshot that
// CopyImage makes, at at, of snapshot srcSnap of image src for its copy dst.
func CopyImageDescription(dst, src, srcSnap string, at time.Time) string {
	return fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s. Task created on %s.",
		dst, src, srcSnap, thousands(at.UnixMilli()))
}

// thousands formats n (not negative) with commas between groups of three digits, as EC2
// writes the task time of a copied snapshot.
func thousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(digits[i])
	}
	return b.String()
}

// volumeSize parses a block device mapping's volume size; empty or invalid
// means defaultVolumeSize.
func volumeSize(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return defaultVolumeSize
	}
	return n
}

// newSnapshotID returns a snapshot id no region holds yet: "snap-" and 17 hex
// digits, derived from a counter so runs are reproducible. s.mu is held.
func (s *Server) newSnapshotID() string {
	for {
		s.seq++
		var b [9]byte
		b[0] = 's'
		binary.BigEndian.PutUint64(b[1:], s.seq)
		sum := sha256.Sum256(b[:])
		id := "snap-" + hex.EncodeToString(sum[:9])[:17]
		if !s.snapshotExists(id) {
			return id
		}
	}
}

func (s *Server) snapshotExists(id string) bool {
	for _, snaps := range s.snapshots {
		if _, ok := snaps[id]; ok {
			return true
		}
	}
	return false
}

// usedBy returns the id of an image in region whose block devices use the
// snapshot id, or "". s.mu is held.
func (s *Server) usedBy(region, id string) string {
	for _, img := range s.sorted(region) {
		for _, d := range img.devices {
			if d.SnapshotID == id {
				return img.ID
			}
		}
	}
	return ""
}

// describeSnapshots: SnapshotId.N, Owner.N, Filter.N.Name, Filter.N.Value.M.
// The server models one account: Owner.N matches when it names self or the
// server's owner id. RestorableBy.N, MaxResults and NextToken are ignored:
// every match comes in one page.
func (s *Server) describeSnapshots(region string, form url.Values) (response, *apiError) {
	ids := list(form, "SnapshotId")
	for _, id := range ids {
		if !snapshotID.MatchString(id) {
			return nil, errSnapshotMalformed(id)
		}
	}
	fs, err := filters(form, &Snapshot{})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if s.snapshots[region][id] == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errSnapshotNotFound(missing...)
	}
	owners := list(form, "Owner")
	mine := len(owners) == 0 || slices.Contains(owners, "self") || slices.Contains(owners, s.owner)
	resp := &describeSnapshotsResponse{}
	for _, id := range slices.Sorted(maps.Keys(s.snapshots[region])) {
		snap := s.snapshots[region][id]
		if mine && (len(ids) == 0 || slices.Contains(ids, id)) && matchesAll(snap, fs) {
			resp.Snapshots = append(resp.Snapshots, snap.xml())
		}
	}
	return resp, nil
}

// deleteSnapshot: SnapshotId. A snapshot that an image in its region still
// uses is refused with InvalidSnapshot.InUse, as EC2 does: deregister the
// image first.
func (s *Server) deleteSnapshot(region string, form url.Values) (response, *apiError) {
	id := form.Get("SnapshotId")
	if id == "" {
		return nil, errMissing("SnapshotId")
	}
	if !snapshotID.MatchString(id) {
		return nil, errSnapshotMalformed(id)
	}
	if s.snapshots[region][id] == nil {
		return nil, errSnapshotNotFound(id)
	}
	if ami := s.usedBy(region, id); ami != "" {
		return nil, errorf("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, ami)
	}
	delete(s.snapshots[region], id)
	return &returnResponse{Return: true}, nil
}

// field returns the values a DescribeSnapshots filter name selects from
// snap, and whether the name is a supported filter.
func (snap *Snapshot) field(name string) ([]string, bool) {
	if got, ok := tagField(snap.Tags, name); ok {
		return got, true
	}
	switch name {
	case "snapshot-id":
		return []string{snap.ID}, true
	case "description":
		return []string{snap.Description}, true
	case "owner-id":
		return []string{snap.OwnerID}, true
	case "status":
		return []string{snap.State}, true
	case "volume-size":
		return []string{strconv.Itoa(snap.VolumeSize)}, true
	}
	return nil, false
}

// xml renders the snapshot as DescribeSnapshots does.
func (snap *Snapshot) xml() snapshotXML {
	out := snapshotXML{
		SnapshotID:  snap.ID,
		VolumeID:    "vol-ffffffff",
		Status:      snap.State,
		StartTime:   snap.StartTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		Progress:    "100%",
		OwnerID:     snap.OwnerID,
		VolumeSize:  snap.VolumeSize,
		Description: snap.Description,
		StorageTier: "standard",
	}
	for _, k := range slices.Sorted(maps.Keys(snap.Tags)) {
		out.TagSet = append(out.TagSet, tagXML{Key: k, Value: snap.Tags[k]})
	}
	return out
}
