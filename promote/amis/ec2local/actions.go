package ec2local

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// handler runs one action in region. s.mu is held.
type handler func(s *Server, region string, form url.Values) (response, *apiError)

// handlers are the actions the server implements.
var handlers = map[string]handler{
	"RegisterImage":           (*Server).registerImage,
	"DescribeImages":          (*Server).describeImages,
	"CopyImage":               (*Server).copyImage,
	"ModifyImageAttribute":    (*Server).modifyImageAttribute,
	"DescribeImageAttribute":  (*Server).describeImageAttribute,
	"CreateTags":              (*Server).createTags,
	"DeregisterImage":         (*Server).deregisterImage,
	"EnableImageDeprecation":  (*Server).enableImageDeprecation,
	"DisableImageDeprecation": (*Server).disableImageDeprecation,
	"DisableImage":            (*Server).disableImage,
	"EnableImage":             (*Server).enableImage,
	"DescribeSnapshots":       (*Server).describeSnapshots,
	"DeleteSnapshot":          (*Server).deleteSnapshot,

	"CreateLaunchTemplate":           (*Server).createLaunchTemplate,
	"CreateLaunchTemplateVersion":    (*Server).createLaunchTemplateVersion,
	"DescribeLaunchTemplates":        (*Server).describeLaunchTemplates,
	"DescribeLaunchTemplateVersions": (*Server).describeLaunchTemplateVersions,
	"ModifyLaunchTemplate":           (*Server).modifyLaunchTemplate,
}

var architectures = []string{"i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// registerImage: Name, Architecture, Description, RootDeviceName,
// BlockDeviceMapping.N.{DeviceName,Ebs.SnapshotId,Ebs.VolumeSize,...},
// TagSpecification.N.
func (s *Server) registerImage(region string, form url.Values) (response, *apiError) {
	name := form.Get("Name")
	if err := s.checkName(region, name); err != nil {
		return nil, err
	}
	arch := form.Get("Architecture")
	if arch == "" {
		arch = "x86_64"
	}
	if !slices.Contains(architectures, arch) {
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter architecture is invalid.", arch)
	}
	ts, err := imageTags(form)
	if err != nil {
		return nil, err
	}
	var devices []blockDevice
	for _, n := range indices(form, "BlockDeviceMapping") {
		p := "BlockDeviceMapping." + strconv.Itoa(n)
		d := blockDevice{
			DeviceName:          form.Get(p + ".DeviceName"),
			SnapshotID:          form.Get(p + ".Ebs.SnapshotId"),
			VolumeSize:          form.Get(p + ".Ebs.VolumeSize"),
			VolumeType:          form.Get(p + ".Ebs.VolumeType"),
			DeleteOnTermination: form.Get(p + ".Ebs.DeleteOnTermination"),
		}
		if d.DeviceName == "" {
			return nil, errMissing(p + ".DeviceName")
		}
		devices = append(devices, d)
	}
	rootDevice := form.Get("RootDeviceName")
	if rootDevice == "" && len(devices) > 0 {
		rootDevice = devices[0].DeviceName
	}
	img := &image{
		Image: Image{
			ID:             s.newID(),
			Name:           name,
			Region:         region,
			State:          StateAvailable,
			Architecture:   arch,
			Description:    form.Get("Description"),
			RootDeviceName: rootDevice,
			OwnerID:        s.owner,
			CreationDate:   s.now(),
			Tags:           tagMap(nil, ts),
		},
		devices: devices,
	}
	s.put(img)
	s.recordSnapshots(region, devices)
	return &imageIDResponse{ImageID: img.ID}, nil
}

// describeImages: ImageId.N, Filter.N.Name, Filter.N.Value.M. Owner.N and
// ExecutableBy.N are ignored (the server models one account that owns every
// image), and so are MaxResults and NextToken: every match comes in one page.
func (s *Server) describeImages(region string, form url.Values) (response, *apiError) {
	ids := list(form, "ImageId")
	for _, id := range ids {
		if !amiID.MatchString(id) {
			return nil, errAMIMalformed(id)
		}
	}
	fs, err := filters(form, &image{})
	if err != nil {
		return nil, err
	}
	var imgs []*image
	if len(ids) == 0 {
		imgs = s.sorted(region)
	} else {
		var missing []string
		for _, id := range ids {
			img, ok := s.images[region][id]
			switch {
			case !ok:
				missing = append(missing, id)
			case !slices.Contains(imgs, img):
				imgs = append(imgs, img)
			}
		}
		if len(missing) > 0 {
			return nil, errAMINotFound(missing...)
		}
		slices.SortFunc(imgs, func(a, b *image) int { return strings.Compare(a.ID, b.ID) })
	}
	resp := &describeImagesResponse{}
	withDisabled := form.Get("IncludeDisabled") == "true"
	for _, img := range imgs {
		if img.State == StateDisabled && !withDisabled {
			continue
		}
		if img.matches(fs) {
			resp.Images = append(resp.Images, img.observe())
		}
	}
	return resp, nil
}

// observe renders the image for DescribeImages and advances a pending copy
// towards available (see WithCopyPending).
func (img *image) observe() imageXML {
	out := img.xml()
	if img.State == StatePending && img.polls > 0 {
		img.polls--
		if img.polls == 0 {
			img.State = StateAvailable
		}
	}
	return out
}

// copyImage: SourceImageId, SourceRegion, Name, Description, ClientToken,
// CopyImageTags, TagSpecification.N. The copy is created in the request's
// region. A client token already used in that region returns the image it
// created, or IdempotentParameterMismatch if the other parameters differ.
func (s *Server) copyImage(region string, form url.Values) (response, *apiError) {
	for _, p := range []string{"SourceImageId", "SourceRegion", "Name"} {
		if form.Get(p) == "" {
			return nil, errMissing(p)
		}
	}
	srcID, srcRegion := form.Get("SourceImageId"), form.Get("SourceRegion")
	if !amiID.MatchString(srcID) {
		return nil, errAMIMalformed(srcID)
	}
	clientToken := form.Get("ClientToken")
	params := fingerprint(form)
	if t, ok := s.tokens[region][clientToken]; ok && clientToken != "" {
		if t.params != params {
			return nil, errorf("IdempotentParameterMismatch", "Client token %s was already used with different parameters.", clientToken)
		}
		return &imageIDResponse{ImageID: t.id}, nil
	}
	src, ok := s.images[srcRegion][srcID]
	if !ok {
		return nil, errAMINotFound(srcID)
	}
	if src.State != StateAvailable {
		return nil, errorf("IncorrectState", "Image %s is in state %s, not available.", srcID, src.State)
	}
	name := form.Get("Name")
	if err := s.checkName(region, name); err != nil {
		return nil, err
	}
	ts, err := imageTags(form)
	if err != nil {
		return nil, err
	}
	var copied map[string]string
	if form.Get("CopyImageTags") == "true" {
		copied = src.Tags
	}
	desc := form.Get("Description")
	if desc == "" {
		desc = src.Description
	}
	img := &image{
		Image: Image{
			ID:             s.newID(),
			Name:           name,
			Region:         region,
			State:          StateAvailable,
			Architecture:   src.Architecture,
			Description:    desc,
			RootDeviceName: src.RootDeviceName,
			OwnerID:        s.owner,
			CreationDate:   s.now(),
			Tags:           tagMap(copied, ts),
			SourceImageID:  srcID,
			SourceRegion:   srcRegion,
		},
		polls: s.copyPolls,
	}
	if img.polls > 0 {
		img.State = StatePending
	}
	img.devices = s.copyDevices(region, src, img.ID)
	s.put(img)
	s.remember(region, clientToken, token{id: img.ID, params: params})
	return &imageIDResponse{ImageID: img.ID}, nil
}

// remember keeps a CopyImage client token, for idempotent retries.
func (s *Server) remember(region, clientToken string, t token) {
	if clientToken == "" {
		return
	}
	if s.tokens[region] == nil {
		s.tokens[region] = map[string]token{}
	}
	s.tokens[region][clientToken] = t
}

// fingerprint canonicalises a request's parameters other than its client
// token, to tell a retried request from a different one.
func fingerprint(form url.Values) string {
	v := cloneValues(form)
	v.Del("ClientToken")
	return v.Encode()
}

// modifyImageAttribute changes launch permissions or the description. It
// takes both forms the SDK can send:
//
//	LaunchPermission.Add.N.UserId / .Group, LaunchPermission.Remove.N.UserId / .Group
//	Attribute=launchPermission&OperationType=add|remove&UserId.N=...&UserGroup.N=all
//
// and Description.Value=... or Attribute=description&Value=....
func (s *Server) modifyImageAttribute(region string, form url.Values) (response, *apiError) {
	id := form.Get("ImageId")
	if id == "" {
		return nil, errMissing("ImageId")
	}
	img, err := s.lookup(region, id)
	if err != nil {
		return nil, err
	}
	add := permissions(form, "LaunchPermission.Add")
	remove := permissions(form, "LaunchPermission.Remove")
	desc, setDesc := form["Description.Value"]
	switch attr := form.Get("Attribute"); attr {
	case "":
	case "launchPermission":
		var perms []launchPermissionXML
		for _, u := range list(form, "UserId") {
			perms = append(perms, launchPermissionXML{UserID: u})
		}
		for _, g := range list(form, "UserGroup") {
			perms = append(perms, launchPermissionXML{Group: g})
		}
		switch op := form.Get("OperationType"); op {
		case "add":
			add = append(add, perms...)
		case "remove":
			remove = append(remove, perms...)
		case "":
			if len(perms) > 0 {
				return nil, errMissing("OperationType")
			}
		default:
			return nil, errorf("InvalidParameterValue", "Value (%s) for parameter operationType is invalid.", op)
		}
	case "description":
		desc, setDesc = form["Value"], true
	default:
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	if len(add) == 0 && len(remove) == 0 && !setDesc {
		return nil, errorf("MissingParameter", "No attributes specified.")
	}
	for _, p := range slices.Concat(add, remove) {
		if err := p.check(); err != nil {
			return nil, err
		}
	}
	for _, p := range add {
		if p.Group == "all" {
			img.Public = true
		} else if !slices.Contains(img.LaunchPermissions, p.UserID) {
			img.LaunchPermissions = append(img.LaunchPermissions, p.UserID)
		}
	}
	for _, p := range remove {
		if p.Group == "all" {
			img.Public = false
		} else {
			img.LaunchPermissions = slices.DeleteFunc(img.LaunchPermissions, func(u string) bool { return u == p.UserID })
		}
	}
	if setDesc && len(desc) > 0 {
		img.Description = desc[0]
	}
	return &returnResponse{Return: true}, nil
}

// permissions parses prefix.N.UserId / prefix.N.Group.
func permissions(form url.Values, prefix string) []launchPermissionXML {
	var out []launchPermissionXML
	for _, n := range indices(form, prefix) {
		p := prefix + "." + strconv.Itoa(n)
		out = append(out, launchPermissionXML{UserID: form.Get(p + ".UserId"), Group: form.Get(p + ".Group")})
	}
	return out
}

// check returns an error unless the permission names one account id or the
// group all.
func (p launchPermissionXML) check() *apiError {
	switch {
	case p.UserID != "" && p.Group != "":
		return errorf("InvalidParameterCombination", "A launch permission names either a user id or a group, not both.")
	case p.Group != "" && p.Group != "all":
		return errorf("InvalidAMIAttributeItemValue", "Invalid attribute item value %q for group item type.", p.Group)
	case p.Group == "" && !accountID.MatchString(p.UserID):
		return errorf("InvalidAMIAttributeItemValue", "Invalid attribute item value %q for userId item type.", p.UserID)
	}
	return nil
}

// describeImageAttribute: ImageId, Attribute (launchPermission or
// description).
func (s *Server) describeImageAttribute(region string, form url.Values) (response, *apiError) {
	for _, p := range []string{"ImageId", "Attribute"} {
		if form.Get(p) == "" {
			return nil, errMissing(p)
		}
	}
	img, err := s.lookup(region, form.Get("ImageId"))
	if err != nil {
		return nil, err
	}
	resp := &describeImageAttributeResponse{ImageID: img.ID}
	switch attr := form.Get("Attribute"); attr {
	case "launchPermission":
		resp.LaunchPermission = &launchPermissions{}
		for _, u := range img.LaunchPermissions {
			resp.LaunchPermission.Items = append(resp.LaunchPermission.Items, launchPermissionXML{UserID: u})
		}
		if img.Public {
			resp.LaunchPermission.Items = append(resp.LaunchPermission.Items, launchPermissionXML{Group: "all"})
		}
	case "description":
		resp.Description = &valueXML{Value: img.Description}
	default:
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. ec2local supports launchPermission and description.", attr)
	}
	return resp, nil
}

// createTags: ResourceId.N, Tag.N.Key, Tag.N.Value. Only images can be
// tagged. Either every resource is tagged or none is.
func (s *Server) createTags(region string, form url.Values) (response, *apiError) {
	ids := list(form, "ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("ResourceId")
	}
	ts := tags(form, "Tag")
	if len(ts) == 0 {
		return nil, errMissing("Tag")
	}
	if err := checkTags(ts); err != nil {
		return nil, err
	}
	var imgs []*image
	for _, id := range ids {
		if !strings.HasPrefix(id, "ami-") {
			return nil, errorf("InvalidID", "The ID '%s' is not valid (ec2local only tags images)", id)
		}
		img, err := s.lookup(region, id)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	for _, img := range imgs {
		img.Tags = tagMap(img.Tags, ts)
	}
	return &returnResponse{Return: true}, nil
}

// deregisterImage: ImageId. The image is forgotten at once; its snapshots
// are kept, as EC2 keeps them, until DeleteSnapshot.
func (s *Server) deregisterImage(region string, form url.Values) (response, *apiError) {
	id := form.Get("ImageId")
	if id == "" {
		return nil, errMissing("ImageId")
	}
	if _, err := s.lookup(region, id); err != nil {
		return nil, err
	}
	delete(s.images[region], id)
	return &returnResponse{Return: true}, nil
}

// enableImageDeprecation: ImageId, DeprecateAt (RFC 3339; EC2 rounds it up
// to the minute). The image is listed with its deprecationTime.
func (s *Server) enableImageDeprecation(region string, form url.Values) (response, *apiError) {
	img, err := s.imageOf(region, form)
	if err != nil {
		return nil, err
	}
	at, perr := time.Parse(time.RFC3339, form.Get("DeprecateAt"))
	if perr != nil {
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter DeprecateAt is invalid: %v", form.Get("DeprecateAt"), perr)
	}
	img.DeprecationTime = at.UTC().Truncate(time.Minute)
	if !at.Equal(img.DeprecationTime) {
		img.DeprecationTime = img.DeprecationTime.Add(time.Minute)
	}
	return &returnResponse{Return: true}, nil
}

// disableImageDeprecation: ImageId.
func (s *Server) disableImageDeprecation(region string, form url.Values) (response, *apiError) {
	img, err := s.imageOf(region, form)
	if err != nil {
		return nil, err
	}
	img.DeprecationTime = time.Time{}
	return &returnResponse{Return: true}, nil
}

// disableImage: ImageId. An available image becomes disabled: it cannot be
// launched, and DescribeImages lists it only with IncludeDisabled.
func (s *Server) disableImage(region string, form url.Values) (response, *apiError) {
	return s.switchState(region, form, StateDisabled)
}

// enableImage: ImageId. A disabled image becomes available again.
func (s *Server) enableImage(region string, form url.Values) (response, *apiError) {
	return s.switchState(region, form, StateAvailable)
}

// switchState moves an available or disabled image to state (either of
// those); an image in any other state is refused, as EC2 does.
func (s *Server) switchState(region string, form url.Values, state string) (response, *apiError) {
	img, err := s.imageOf(region, form)
	if err != nil {
		return nil, err
	}
	if img.State != StateAvailable && img.State != StateDisabled {
		return nil, errorf("IncorrectState", "The image '%s' is in the %s state; only available and disabled images can be enabled or disabled.", img.ID, img.State)
	}
	img.State = state
	return &returnResponse{Return: true}, nil
}

// imageOf is the image named by the ImageId parameter.
func (s *Server) imageOf(region string, form url.Values) (*image, *apiError) {
	id := form.Get("ImageId")
	if id == "" {
		return nil, errMissing("ImageId")
	}
	return s.lookup(region, id)
}

// tagMap returns a new map holding base (less system tags, which are never
// copied) overlaid with ts.
func tagMap(base map[string]string, ts []tag) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(strings.ToLower(k), "aws:") })
	for _, t := range ts {
		out[t.Key] = t.Value
	}
	return out
}
