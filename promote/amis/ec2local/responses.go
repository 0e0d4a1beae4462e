package ec2local

import (
	"maps"
	"slices"
)

// response is the document an action answers with; ServeHTTP fills in its
// request id.
type response interface{ setRequestID(string) }

// meta holds what every EC2 response carries. ServeHTTP names the document
// after the action: <ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">.
type meta struct {
	RequestID string `xml:"requestId"`
}

func (m *meta) setRequestID(id string) { m.RequestID = id }

// returnResponse answers actions that only report success.
type returnResponse struct {
	meta
	Return bool `xml:"return"`
}

// imageIDResponse answers RegisterImage and CopyImage.
type imageIDResponse struct {
	meta
	ImageID string `xml:"imageId"`
}

type describeImagesResponse struct {
	meta
	Images []imageXML `xml:"imagesSet>item"`
}

type describeImageAttributeResponse struct {
	meta
	ImageID          string             `xml:"imageId"`
	LaunchPermission *launchPermissions `xml:"launchPermission,omitempty"`
	Description      *valueXML          `xml:"description,omitempty"`
}

type launchPermissions struct {
	Items []launchPermissionXML `xml:"item"`
}

type launchPermissionXML struct {
	UserID string `xml:"userId,omitempty"`
	Group  string `xml:"group,omitempty"`
}

type valueXML struct {
	Value string `xml:"value"`
}

type imageXML struct {
	ImageID            string           `xml:"imageId"`
	ImageLocation      string           `xml:"imageLocation"`
	ImageState         string           `xml:"imageState"`
	ImageOwnerID       string           `xml:"imageOwnerId"`
	CreationDate       string           `xml:"creationDate"`
	IsPublic           bool             `xml:"isPublic"`
	Architecture       string           `xml:"architecture"`
	ImageType          string           `xml:"imageType"`
	Name               string           `xml:"name"`
	Description        string           `xml:"description,omitempty"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName,omitempty"`
	BlockDeviceMapping []blockDeviceXML `xml:"blockDeviceMapping>item"`
	VirtualizationType string           `xml:"virtualizationType"`
	Hypervisor         string           `xml:"hypervisor"`
	SourceImageID      string           `xml:"sourceImageId,omitempty"`
	SourceImageRegion  string           `xml:"sourceImageRegion,omitempty"`
	TagSet             []tagXML         `xml:"tagSet>item"`
	DeprecationTime    string           `xml:"deprecationTime,omitempty"`
}

type blockDeviceXML struct {
	DeviceName string  `xml:"deviceName"`
	Ebs        *ebsXML `xml:"ebs,omitempty"`
}

type ebsXML struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	VolumeSize          string `xml:"volumeSize,omitempty"`
	DeleteOnTermination string `xml:"deleteOnTermination,omitempty"`
	VolumeType          string `xml:"volumeType,omitempty"`
}

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// xml renders the image as DescribeImages does.
func (img *image) xml() imageXML {
	out := imageXML{
		ImageID:            img.ID,
		ImageLocation:      img.OwnerID + "/" + img.Name,
		ImageState:         img.State,
		ImageOwnerID:       img.OwnerID,
		CreationDate:       img.CreationDate.UTC().Format("2006-01-02T15:04:05.000Z"),
		IsPublic:           img.Public,
		Architecture:       img.Architecture,
		ImageType:          "machine",
		Name:               img.Name,
		Description:        img.Description,
		RootDeviceType:     "ebs",
		RootDeviceName:     img.RootDeviceName,
		VirtualizationType: "hvm",
		Hypervisor:         "xen",
		SourceImageID:      img.SourceImageID,
		SourceImageRegion:  img.SourceRegion,
	}
	if !img.DeprecationTime.IsZero() {
		out.DeprecationTime = img.DeprecationTime.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	for _, d := range img.devices {
		bd := blockDeviceXML{DeviceName: d.DeviceName}
		if d.SnapshotID != "" || d.VolumeSize != "" {
			bd.Ebs = &ebsXML{SnapshotID: d.SnapshotID, VolumeSize: d.VolumeSize, DeleteOnTermination: d.DeleteOnTermination, VolumeType: d.VolumeType}
		}
		out.BlockDeviceMapping = append(out.BlockDeviceMapping, bd)
	}
	for _, k := range slices.Sorted(maps.Keys(img.Tags)) {
		out.TagSet = append(out.TagSet, tagXML{Key: k, Value: img.Tags[k]})
	}
	return out
}

type describeSnapshotsResponse struct {
	meta
	Snapshots []snapshotXML `xml:"snapshotSet>item"`
}

// snapshotXML is a snapshot as DescribeSnapshots renders it. Snapshots that
// CopyImage makes have the volume id vol-ffffffff, as on EC2.
type snapshotXML struct {
	SnapshotID  string   `xml:"snapshotId"`
	VolumeID    string   `xml:"volumeId"`
	Status      string   `xml:"status"`
	StartTime   string   `xml:"startTime"`
	Progress    string   `xml:"progress"`
	OwnerID     string   `xml:"ownerId"`
	VolumeSize  int      `xml:"volumeSize"`
	Description string   `xml:"description"`
	Encrypted   bool     `xml:"encrypted"`
	TagSet      []tagXML `xml:"tagSet>item"`
	StorageTier string   `xml:"storageTier"`
}
