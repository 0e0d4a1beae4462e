package ec2local

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EC2 launch templates: CreateLaunchTemplate, CreateLaunchTemplateVersion,
// DescribeLaunchTemplates, DescribeLaunchTemplateVersions and
// ModifyLaunchTemplate, with the error codes EC2 answers them with. A
// version's launch data is modelled as its ImageId and InstanceType only;
// every other LaunchTemplateData parameter is accepted and ignored.

// LaunchTemplate is a launch template held by the server.
type LaunchTemplate struct {
	ID     string
	Name   string
	Region string
	// DefaultVersion and LatestVersion are version numbers (from 1).
	DefaultVersion, LatestVersion int64
	Created                       time.Time
	Tags                          map[string]string
	// Versions are the template's versions, oldest (1) first.
	Versions []LaunchTemplateVersion

	owner string
}

// LaunchTemplateVersion is one version of a launch template.
type LaunchTemplateVersion struct {
	Number       int64
	Description  string
	ImageID      string
	InstanceType string
	Created      time.Time
}

var (
	launchTemplateID   = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
	launchTemplateName = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
)

// LaunchTemplate returns a copy of the launch template named by ref (its id
// or its name) in region.
func (s *Server) LaunchTemplate(region, ref string) (LaunchTemplate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lt := range s.templates[region] {
		if lt.ID == ref || lt.Name == ref {
			out := *lt
			out.Tags = maps.Clone(lt.Tags)
			out.Versions = slices.Clone(lt.Versions)
			return out, true
		}
	}
	return LaunchTemplate{}, false
}

// newTemplateID returns a launch template id: "lt-" and 17 hex digits.
// s.mu is held.
func (s *Server) newTemplateID() string {
	s.seq++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.seq)
	sum := sha256.Sum256(append([]byte("lt"), b[:]...))
	return "lt-" + hex.EncodeToString(sum[:9])[:17]
}

// templateOf finds the template of a request's LaunchTemplateId or
// LaunchTemplateName. s.mu is held.
func (s *Server) templateOf(region string, form url.Values) (*LaunchTemplate, *apiError) {
	id, name := form.Get("LaunchTemplateId"), form.Get("LaunchTemplateName")
	switch {
	case id != "" && name != "":
		return nil, errorf("InvalidParameterCombination", "Both a launch template ID and a launch template name cannot be specified in the same request.")
	case id != "":
		return s.templateByID(region, id)
	case name != "":
		return s.templateByName(region, name)
	}
	return nil, errorf("MissingParameter", "The request must include either a launch template ID or a launch template name.")
}

func (s *Server) templateByID(region, id string) (*LaunchTemplate, *apiError) {
	if !launchTemplateID.MatchString(id) {
		return nil, errorf("InvalidLaunchTemplateId.Malformed", "The specified ID for the launch template is not valid. Specify a valid ID, and try again.")
	}
	if lt, ok := s.templates[region][id]; ok {
		return lt, nil
	}
	return nil, errorf("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
}

func (s *Server) templateByName(region, name string) (*LaunchTemplate, *apiError) {
	for _, lt := range s.templates[region] {
		if lt.Name == name {
			return lt, nil
		}
	}
	return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
}

// version resolves a version reference ("$Latest", "$Default" or a number)
// of lt; empty is def.
func (lt *LaunchTemplate) version(ref, def string) (*LaunchTemplateVersion, *apiError) {
	if ref == "" {
		ref = def
	}
	var n int64
	switch ref {
	case "$Latest":
		n = lt.LatestVersion
	case "$Default":
		n = lt.DefaultVersion
	default:
		v, err := strconv.ParseInt(ref, 10, 64)
		if err != nil || v < 1 {
			return nil, errorf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s.", ref, lt.ID)
		}
		n = v
	}
	if n < 1 || n > int64(len(lt.Versions)) {
		return nil, errorf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s.", ref, lt.ID)
	}
	return &lt.Versions[n-1], nil
}

// launchData reads LaunchTemplateData.ImageId and .InstanceType over base.
func launchData(form url.Values, base LaunchTemplateVersion) (LaunchTemplateVersion, *apiError) {
	v := LaunchTemplateVersion{ImageID: base.ImageID, InstanceType: base.InstanceType}
	if id, ok := form["LaunchTemplateData.ImageId"]; ok && len(id) > 0 {
		v.ImageID = id[0]
		if v.ImageID != "" && !amiID.MatchString(v.ImageID) && !strings.HasPrefix(v.ImageID, "resolve:ssm:") {
			return v, errorf("InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", v.ImageID)
		}
	}
	if t := form.Get("LaunchTemplateData.InstanceType"); t != "" {
		v.InstanceType = t
	}
	v.Description = form.Get("VersionDescription")
	if len(v.Description) > 255 {
		return v, errorf("InvalidParameterValue", "The version description must be at most 255 characters.")
	}
	return v, nil
}

// createLaunchTemplate: LaunchTemplateName, VersionDescription,
// LaunchTemplateData.*, TagSpecification.N (launch-template).
func (s *Server) createLaunchTemplate(region string, form url.Values) (response, *apiError) {
	name := form.Get("LaunchTemplateName")
	if name == "" {
		return nil, errMissing("LaunchTemplateName")
	}
	if !launchTemplateName.MatchString(name) {
		return nil, errorf("InvalidLaunchTemplateName.MalformedException", "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
	}
	if _, err := s.templateByName(region, name); err == nil {
		return nil, errorf("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
	}
	if len(indices(form, "LaunchTemplateData")) == 0 && !hasPrefix(form, "LaunchTemplateData.") {
		return nil, errMissing("LaunchTemplateData")
	}
	v, err := launchData(form, LaunchTemplateVersion{})
	if err != nil {
		return nil, err
	}
	var ts []tag
	for _, n := range indices(form, "TagSpecification") {
		p := "TagSpecification." + strconv.Itoa(n)
		if rt := form.Get(p + ".ResourceType"); rt != "launch-template" {
			return nil, errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		ts = append(ts, tags(form, p+".Tag")...)
	}
	if err := checkTags(ts); err != nil {
		return nil, err
	}
	now := s.now()
	v.Number, v.Created = 1, now
	lt := &LaunchTemplate{ID: s.newTemplateID(), Name: name, Region: region, DefaultVersion: 1, LatestVersion: 1,
		Created: now, Tags: tagMap(nil, ts), Versions: []LaunchTemplateVersion{v}, owner: s.owner}
	if s.templates[region] == nil {
		s.templates[region] = map[string]*LaunchTemplate{}
	}
	s.templates[region][lt.ID] = lt
	return &launchTemplateResponse{LaunchTemplate: lt.xml()}, nil
}

func hasPrefix(form url.Values, prefix string) bool {
	for k := range form {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// createLaunchTemplateVersion: LaunchTemplateId or LaunchTemplateName,
// SourceVersion, VersionDescription, LaunchTemplateData.*. Without a
// SourceVersion the new version holds only the data given, as in EC2.
func (s *Server) createLaunchTemplateVersion(region string, form url.Values) (response, *apiError) {
	lt, err := s.templateOf(region, form)
	if err != nil {
		return nil, err
	}
	var base LaunchTemplateVersion
	if src := form.Get("SourceVersion"); src != "" {
		b, err := lt.version(src, "")
		if err != nil {
			return nil, err
		}
		base = *b
	}
	if !hasPrefix(form, "LaunchTemplateData.") {
		return nil, errMissing("LaunchTemplateData")
	}
	v, err := launchData(form, base)
	if err != nil {
		return nil, err
	}
	lt.LatestVersion++
	v.Number, v.Created = lt.LatestVersion, s.now()
	lt.Versions = append(lt.Versions, v)
	return &launchTemplateVersionResponse{Version: lt.versionXML(v)}, nil
}

// describeLaunchTemplates: LaunchTemplateId.N, LaunchTemplateName.N. Filters
// are not supported; every match comes in one page.
func (s *Server) describeLaunchTemplates(region string, form url.Values) (response, *apiError) {
	ids, names := list(form, "LaunchTemplateId"), list(form, "LaunchTemplateName")
	if len(ids) > 0 && len(names) > 0 {
		return nil, errorf("InvalidParameterCombination", "Both launch template IDs and launch template names cannot be specified in the same request.")
	}
	resp := &describeLaunchTemplatesResponse{}
	var found []*LaunchTemplate
	for _, id := range ids {
		lt, err := s.templateByID(region, id)
		if err != nil {
			return nil, err
		}
		found = append(found, lt)
	}
	for _, name := range names {
		if !launchTemplateName.MatchString(name) {
			return nil, errorf("InvalidLaunchTemplateName.MalformedException", "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
		}
		lt, err := s.templateByName(region, name)
		if err != nil {
			return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
		}
		found = append(found, lt)
	}
	if len(ids) == 0 && len(names) == 0 {
		for _, id := range slices.Sorted(maps.Keys(s.templates[region])) {
			found = append(found, s.templates[region][id])
		}
	}
	for _, lt := range found {
		resp.LaunchTemplates = append(resp.LaunchTemplates, lt.xml())
	}
	return resp, nil
}

// describeLaunchTemplateVersions: LaunchTemplateId or LaunchTemplateName,
// LaunchTemplateVersion.N ($Latest, $Default or numbers); without versions,
// every version, newest first as EC2 answers.
func (s *Server) describeLaunchTemplateVersions(region string, form url.Values) (response, *apiError) {
	lt, err := s.templateOf(region, form)
	if err != nil {
		return nil, err
	}
	resp := &describeLaunchTemplateVersionsResponse{}
	refs := list(form, "LaunchTemplateVersion")
	if len(refs) == 0 {
		for i := len(lt.Versions) - 1; i >= 0; i-- {
			resp.Versions = append(resp.Versions, lt.versionXML(lt.Versions[i]))
		}
		return resp, nil
	}
	for _, ref := range refs {
		v, err := lt.version(ref, "")
		if err != nil {
			return nil, err
		}
		resp.Versions = append(resp.Versions, lt.versionXML(*v))
	}
	return resp, nil
}

// modifyLaunchTemplate: LaunchTemplateId or LaunchTemplateName,
// SetDefaultVersion.
func (s *Server) modifyLaunchTemplate(region string, form url.Values) (response, *apiError) {
	lt, err := s.templateOf(region, form)
	if err != nil {
		return nil, err
	}
	if ref := form.Get("SetDefaultVersion"); ref != "" {
		v, err := lt.version(ref, "")
		if err != nil {
			return nil, err
		}
		lt.DefaultVersion = v.Number
	}
	return &launchTemplateResponse{LaunchTemplate: lt.xml()}, nil
}

type launchTemplateXML struct {
	ID                   string   `xml:"launchTemplateId"`
	Name                 string   `xml:"launchTemplateName"`
	CreateTime           string   `xml:"createTime"`
	CreatedBy            string   `xml:"createdBy"`
	DefaultVersionNumber int64    `xml:"defaultVersionNumber"`
	LatestVersionNumber  int64    `xml:"latestVersionNumber"`
	TagSet               []tagXML `xml:"tagSet>item,omitempty"`
}

type launchTemplateVersionXML struct {
	ID                 string        `xml:"launchTemplateId"`
	Name               string        `xml:"launchTemplateName"`
	VersionNumber      int64         `xml:"versionNumber"`
	VersionDescription string        `xml:"versionDescription,omitempty"`
	CreateTime         string        `xml:"createTime"`
	CreatedBy          string        `xml:"createdBy"`
	DefaultVersion     bool          `xml:"defaultVersion"`
	Data               launchDataXML `xml:"launchTemplateData"`
}

type launchDataXML struct {
	ImageID      string `xml:"imageId,omitempty"`
	InstanceType string `xml:"instanceType,omitempty"`
}

type launchTemplateResponse struct {
	meta
	LaunchTemplate launchTemplateXML `xml:"launchTemplate"`
}

type launchTemplateVersionResponse struct {
	meta
	Version launchTemplateVersionXML `xml:"launchTemplateVersion"`
}

type describeLaunchTemplatesResponse struct {
	meta
	LaunchTemplates []launchTemplateXML `xml:"launchTemplates>item"`
}

type describeLaunchTemplateVersionsResponse struct {
	meta
	Versions []launchTemplateVersionXML `xml:"launchTemplateVersionSet>item"`
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func (lt *LaunchTemplate) createdBy() string {
	return "arn:aws:iam::" + lt.owner + ":user/ec2local"
}

func (lt *LaunchTemplate) xml() launchTemplateXML {
	out := launchTemplateXML{ID: lt.ID, Name: lt.Name, CreateTime: lt.Created.UTC().Format(timeFormat), CreatedBy: lt.createdBy(),
		DefaultVersionNumber: lt.DefaultVersion, LatestVersionNumber: lt.LatestVersion}
	for _, k := range slices.Sorted(maps.Keys(lt.Tags)) {
		out.TagSet = append(out.TagSet, tagXML{Key: k, Value: lt.Tags[k]})
	}
	return out
}

func (lt *LaunchTemplate) versionXML(v LaunchTemplateVersion) launchTemplateVersionXML {
	return launchTemplateVersionXML{ID: lt.ID, Name: lt.Name, VersionNumber: v.Number, VersionDescription: v.Description,
		CreateTime: v.Created.UTC().Format(timeFormat), CreatedBy: lt.createdBy(), DefaultVersion: v.Number == lt.DefaultVersion,
		Data: launchDataXML{ImageID: v.ImageID, InstanceType: v.InstanceType}}
}
