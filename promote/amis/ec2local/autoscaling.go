package ec2local

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The Auto Scaling Query API (Version 2011-01-01): CreateAutoScalingGroup,
// DescribeAutoScalingGroups, StartInstanceRefresh, DescribeInstanceRefreshes
// and RollbackInstanceRefresh. The SDK sends it to AWS_ENDPOINT_URL_AUTO_SCALING
// (or AWS_ENDPOINT_URL), which may be this same server: a request's Version
// parameter says which API it is for. Responses are awsquery documents in
// the ASNamespace (<XResponse><XResult>…</XResult><ResponseMetadata>), errors
// awsquery's <ErrorResponse>.
//
// An instance refresh does not run by itself: each DescribeInstanceRefreshes
// answer that reports it advances it one step, as each DescribeImages answer
// advances a pending copy. A refresh is Pending for one answer, InProgress
// (PercentageComplete rising) for WithRefreshPolls answers, then Successful:
// the group then runs the desired launch template version, on new instances.
// FailNextRefresh makes the next refresh fail once it is in progress: with
// AutoRollback it goes RollbackInProgress, then RollbackSuccessful (the group
// stays on its previous version), without it Failed. RollbackInstanceRefresh
// rolls an active refresh back the same way.

// ASNamespace is the XML namespace of Auto Scaling responses.
const ASNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// ASVersion is the API version Auto Scaling requests carry.
const ASVersion = "2011-01-01"

// Instance refresh statuses, as Auto Scaling reports them.
const (
	RefreshPending            = "Pending"
	RefreshInProgress         = "InProgress"
	RefreshSuccessful         = "Successful"
	RefreshFailed             = "Failed"
	RefreshCancelled          = "Cancelled"
	RefreshRollbackInProgress = "RollbackInProgress"
	RefreshRollbackSuccessful = "RollbackSuccessful"
)

// DefaultRefreshPolls is how many DescribeInstanceRefreshes answers report
// a refresh InProgress unless WithRefreshPolls says otherwise.
const DefaultRefreshPolls = 2

// WithRefreshPolls sets how many DescribeInstanceRefreshes answers report a
// refresh InProgress before it ends (at least 1).
func WithRefreshPolls(n int) Option {
	return func(s *Server) { s.refreshPolls = max(n, 1) }
}

// FailNextRefresh makes the next instance refresh started fail once it is
// in progress (instances failed their health checks), with reason as its
// StatusReason.
func (s *Server) FailNextRefresh(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		reason = "Instances failed to pass health checks."
	}
	s.failRefresh = append(s.failRefresh, reason)
}

// Group is an Auto Scaling group held by the server.
type Group struct {
	Name   string
	Region string
	// LaunchTemplateID and LaunchTemplateVersion are the group's launch
	// template and the version it launches ("$Default", "$Latest" or a
	// number), as set.
	LaunchTemplateID      string
	LaunchTemplateName    string
	LaunchTemplateVersion string
	MinSize, MaxSize      int32
	DesiredCapacity       int32
	Created               time.Time
	Instances             []Instance
}

// Instance is an instance of a group.
type Instance struct {
	ID string
	// Version is the launch template version number it was launched from.
	Version int64
	ImageID string
}

// Refresh is an instance refresh.
type Refresh struct {
	ID           string
	Group        string
	Status       string
	StatusReason string
	Percentage   int32
	ToUpdate     int32
	Start, End   time.Time
	// LaunchTemplateID and Version are the desired configuration (Version
	// as given).
	LaunchTemplateID, LaunchTemplateName, Version string
	MinHealthyPercentage                          int32
	AutoRollback, SkipMatching                    bool
	RollbackReason                                string
	RollbackStart                                 time.Time
}

type group struct {
	Group
	refreshes []*refresh // newest first
}

type refresh struct {
	Refresh
	version int64  // the desired version number, resolved at start
	imageID string // the desired version's image
	// script holds the statuses the next answers report, with their
	// percentage; the last stays.
	script []step
	fail   string
}

type step struct {
	status string
	pct    int32
}

// Group returns a copy of the group name in region.
func (s *Server) Group(region, name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[region][name]
	if !ok {
		return Group{}, false
	}
	out := g.Group
	out.Instances = slices.Clone(g.Instances)
	return out, true
}

// Refreshes returns copies of the group's refreshes, newest first.
func (s *Server) Refreshes(region, name string) []Refresh {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Refresh
	if g, ok := s.groups[region][name]; ok {
		for _, r := range g.refreshes {
			out = append(out, r.Refresh)
		}
	}
	return out
}

// asHandlers are the Auto Scaling actions the server implements.
var asHandlers = map[string]handler{
	"CreateAutoScalingGroup":    (*Server).createAutoScalingGroup,
	"DescribeAutoScalingGroups": (*Server).describeAutoScalingGroups,
	"StartInstanceRefresh":      (*Server).startInstanceRefresh,
	"DescribeInstanceRefreshes": (*Server).describeInstanceRefreshes,
	"RollbackInstanceRefresh":   (*Server).rollbackInstanceRefresh,
}

func validation(format string, args ...any) *apiError {
	return errorf("ValidationError", format, args...)
}

func (s *Server) groupOf(region string, form url.Values) (*group, *apiError) {
	name := form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g, ok := s.groups[region][name]
	if !ok {
		return nil, validation("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	}
	return g, nil
}

// templateSpec resolves prefix.LaunchTemplateId / LaunchTemplateName /
// Version to a template and a version number.
func (s *Server) templateSpec(region string, form url.Values, prefix string) (*LaunchTemplate, string, *LaunchTemplateVersion, *apiError) {
	id, name, ref := form.Get(prefix+".LaunchTemplateId"), form.Get(prefix+".LaunchTemplateName"), form.Get(prefix+".Version")
	var lt *LaunchTemplate
	var err *apiError
	switch {
	case id != "" && name != "":
		return nil, "", nil, validation("Valid requests must contain either launchTemplateId or LaunchTemplateName, not both.")
	case id != "":
		lt, err = s.templateByID(region, id)
	case name != "":
		lt, err = s.templateByName(region, name)
	default:
		return nil, "", nil, validation("Valid requests must contain either launchTemplateId or LaunchTemplateName.")
	}
	if err != nil {
		return nil, "", nil, validation("You must use a valid fully-formed launch template. %s", err.message)
	}
	if ref == "" {
		ref = "$Default"
	}
	v, err := lt.version(ref, "")
	if err != nil {
		return nil, "", nil, validation("You must use a valid fully-formed launch template. %s", err.message)
	}
	return lt, ref, v, nil
}

func (s *Server) newInstanceID() string {
	s.seq++
	return fmt.Sprintf("i-%017x", s.seq)
}

// createAutoScalingGroup: AutoScalingGroupName, LaunchTemplate.*, MinSize,
// MaxSize, DesiredCapacity (default MinSize). Instances are made at once,
// InService and Healthy.
func (s *Server) createAutoScalingGroup(region string, form url.Values) (response, *apiError) {
	name := form.Get("AutoScalingGroupName")
	if name == "" || len(name) > 255 {
		return nil, validation("1 validation error detected: Value at 'autoScalingGroupName' failed to satisfy constraint: Member must have length between 1 and 255")
	}
	if _, ok := s.groups[region][name]; ok {
		return nil, errorf("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
	}
	lt, ref, v, err := s.templateSpec(region, form, "LaunchTemplate")
	if err != nil {
		return nil, err
	}
	size := func(p string, def int32) (int32, *apiError) {
		raw := form.Get(p)
		if raw == "" {
			if def < 0 {
				return 0, validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", p)
			}
			return def, nil
		}
		n, perr := strconv.ParseInt(raw, 10, 32)
		if perr != nil || n < 0 {
			return 0, validation("Value %s for %s is not valid", raw, p)
		}
		return int32(n), nil
	}
	lo, err := size("MinSize", -1)
	if err != nil {
		return nil, err
	}
	hi, err := size("MaxSize", -1)
	if err != nil {
		return nil, err
	}
	want, err := size("DesiredCapacity", lo)
	if err != nil {
		return nil, err
	}
	if lo > hi || want < lo || want > hi {
		return nil, validation("Desired capacity:%d must be between the specified min size:%d and max size:%d", want, lo, hi)
	}
	g := &group{Group: Group{Name: name, Region: region, LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, LaunchTemplateVersion: ref,
		MinSize: lo, MaxSize: hi, DesiredCapacity: want, Created: s.now()}}
	for range want {
		g.Instances = append(g.Instances, Instance{ID: s.newInstanceID(), Version: v.Number, ImageID: v.ImageID})
	}
	if s.groups[region] == nil {
		s.groups[region] = map[string]*group{}
	}
	s.groups[region][name] = g
	return &asResponse{Action: "CreateAutoScalingGroup"}, nil
}

// describeAutoScalingGroups: AutoScalingGroupNames.member.N. Names that do
// not exist are left out of the answer, as Auto Scaling does.
func (s *Server) describeAutoScalingGroups(region string, form url.Values) (response, *apiError) {
	names := list(form, "AutoScalingGroupNames.member")
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(s.groups[region]))
	}
	res := &describeGroupsResult{}
	for _, n := range names {
		if g, ok := s.groups[region][n]; ok {
			res.Groups = append(res.Groups, s.groupXML(g))
		}
	}
	return &asResponse{Action: "DescribeAutoScalingGroups", Result: res}, nil
}

// active reports whether a refresh in status blocks another.
func active(status string) bool {
	switch status {
	case RefreshPending, RefreshInProgress, RefreshRollbackInProgress, "Cancelling", "Baking":
		return true
	}
	return false
}

// startInstanceRefresh: AutoScalingGroupName, Strategy (Rolling),
// DesiredConfiguration.LaunchTemplate.*, Preferences.MinHealthyPercentage,
// .AutoRollback, .SkipMatching.
func (s *Server) startInstanceRefresh(region string, form url.Values) (response, *apiError) {
	g, err := s.groupOf(region, form)
	if err != nil {
		return nil, err
	}
	if st := form.Get("Strategy"); st != "" && st != "Rolling" && st != "ReplaceRootVolume" {
		return nil, validation("1 validation error detected: Value '%s' at 'strategy' failed to satisfy constraint: Member must satisfy enum value set: [ReplaceRootVolume, Rolling]", st)
	}
	for _, r := range g.refreshes {
		if active(r.Status) {
			return nil, errorf("InstanceRefreshInProgress", "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
		}
	}
	r := &refresh{Refresh: Refresh{Group: g.Name, MinHealthyPercentage: 90, Start: s.now()}}
	if raw := form.Get("Preferences.MinHealthyPercentage"); raw != "" {
		n, perr := strconv.ParseInt(raw, 10, 32)
		if perr != nil || n < 0 || n > 100 {
			return nil, validation("1 validation error detected: Value '%s' at 'preferences.minHealthyPercentage' failed to satisfy constraint: Member must have value between 0 and 100", raw)
		}
		r.MinHealthyPercentage = int32(n)
	}
	r.AutoRollback = form.Get("Preferences.AutoRollback") == "true"
	r.SkipMatching = form.Get("Preferences.SkipMatching") == "true"
	var lt *LaunchTemplate
	var v *LaunchTemplateVersion
	if hasPrefix(form, "DesiredConfiguration.LaunchTemplate.") {
		if lt, r.Version, v, err = s.templateSpec(region, form, "DesiredConfiguration.LaunchTemplate"); err != nil {
			return nil, err
		}
		r.LaunchTemplateID, r.LaunchTemplateName = lt.ID, lt.Name
	} else {
		if r.AutoRollback {
			return nil, validation("You can't enable auto rollback without a desired configuration.")
		}
		cur, _ := s.templates[region][g.LaunchTemplateID]
		if cur == nil {
			return nil, validation("The launch template of the group does not exist.")
		}
		if v, err = cur.version(g.LaunchTemplateVersion, ""); err != nil {
			return nil, validation("%s", err.message)
		}
	}
	r.version, r.imageID = v.Number, v.ImageID
	for _, in := range g.Instances {
		if !r.SkipMatching || in.Version != v.Number || (lt != nil && lt.ID != g.LaunchTemplateID) {
			r.ToUpdate++
		}
	}
	r.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq+1)
	s.seq++
	if len(s.failRefresh) > 0 {
		r.fail, s.failRefresh = s.failRefresh[0], s.failRefresh[1:]
	}
	r.Status, r.script = RefreshPending, s.script(r)
	s.advance(g, r, false)
	g.refreshes = append([]*refresh{r}, g.refreshes...)
	return &asResponse{Action: "StartInstanceRefresh", Result: &refreshIDResult{ID: r.ID}}, nil
}

// script is the statuses a new refresh will report: nothing to update ends
// at once; otherwise Pending, InProgress refreshPolls times, then Successful,
// or (FailNextRefresh) Failed, or with AutoRollback a rollback.
func (s *Server) script(r *refresh) []step {
	if r.ToUpdate == 0 {
		return []step{{RefreshSuccessful, 100}}
	}
	out := []step{{RefreshPending, 0}}
	for i := 1; i <= s.refreshPolls; i++ {
		out = append(out, step{RefreshInProgress, int32(i * 100 / (s.refreshPolls + 1))}) //nolint:gosec // at most 100
	}
	last := out[len(out)-1].pct
	switch {
	case r.fail != "" && r.AutoRollback:
		return append(out, step{RefreshRollbackInProgress, last}, step{RefreshRollbackSuccessful, 100})
	case r.fail != "":
		return append(out, step{RefreshFailed, last})
	}
	return append(out, step{RefreshSuccessful, 100})
}

// advance moves r to the first state of its script and, with pop, drops it,
// applying the effect of a state reached. s.mu is held.
func (s *Server) advance(g *group, r *refresh, pop bool) {
	if pop && len(r.script) > 1 {
		r.script = r.script[1:]
	}
	st := r.script[0]
	if r.Status == st.status && r.Percentage == st.pct {
		return
	}
	r.Status, r.Percentage = st.status, st.pct
	switch st.status {
	case RefreshSuccessful:
		r.End = s.now()
		if r.LaunchTemplateID != "" {
			g.LaunchTemplateID, g.LaunchTemplateName, g.LaunchTemplateVersion = r.LaunchTemplateID, r.LaunchTemplateName, r.Version
		}
		for i, in := range g.Instances {
			if !r.SkipMatching || in.Version != r.version || in.ImageID != r.imageID {
				g.Instances[i] = Instance{ID: s.newInstanceID(), Version: r.version, ImageID: r.imageID}
			}
		}
	case RefreshRollbackInProgress:
		r.RollbackStart = s.now()
		if r.RollbackReason == "" {
			r.RollbackReason = "Instance refresh failed: " + r.fail + " Rolling back to the previous configuration."
		}
		r.StatusReason = r.RollbackReason
	case RefreshRollbackSuccessful:
		r.End = s.now()
		r.StatusReason = "The instance refresh was rolled back: the group runs its previous configuration."
	case RefreshFailed:
		r.End = s.now()
		r.StatusReason = r.fail
	}
}

// describeInstanceRefreshes: AutoScalingGroupName, InstanceRefreshIds.member.N,
// newest first. Each refresh reported advances one step.
func (s *Server) describeInstanceRefreshes(region string, form url.Values) (response, *apiError) {
	g, err := s.groupOf(region, form)
	if err != nil {
		return nil, err
	}
	ids := list(form, "InstanceRefreshIds.member")
	res := &describeRefreshesResult{}
	for _, r := range g.refreshes {
		if len(ids) > 0 && !slices.Contains(ids, r.ID) {
			continue
		}
		res.Refreshes = append(res.Refreshes, r.xml())
		s.advance(g, r, true)
	}
	return &asResponse{Action: "DescribeInstanceRefreshes", Result: res}, nil
}

// rollbackInstanceRefresh: AutoScalingGroupName. The active refresh goes
// RollbackInProgress, then RollbackSuccessful; the group keeps (or gets
// back) its previous configuration.
func (s *Server) rollbackInstanceRefresh(region string, form url.Values) (response, *apiError) {
	g, err := s.groupOf(region, form)
	if err != nil {
		return nil, err
	}
	for _, r := range g.refreshes {
		if r.Status != RefreshPending && r.Status != RefreshInProgress {
			continue
		}
		if r.LaunchTemplateID == "" {
			return nil, errorf("IrreversibleInstanceRefresh", "The instance refresh can't be rolled back: it has no desired configuration.")
		}
		r.RollbackReason = "Rollback requested by the user."
		r.script = []step{{RefreshRollbackInProgress, r.Percentage}, {RefreshRollbackSuccessful, 100}}
		s.advance(g, r, false)
		return &asResponse{Action: "RollbackInstanceRefresh", Result: &refreshIDResult{ID: r.ID}}, nil
	}
	return nil, errorf("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found for Auto Scaling group %s", g.Name)
}

// asResponse is an Auto Scaling answer: <ActionResponse><ActionResult>…
// </ActionResult><ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>.
type asResponse struct {
	Action    string
	Result    any
	RequestID string
}

func (r *asResponse) setRequestID(id string) { r.RequestID = id }

// write encodes the answer: <ActionResponse xmlns=ASNamespace>, its
// <ActionResult> when it has one, then <ResponseMetadata>.
func (r *asResponse) write(w http.ResponseWriter) {
	var body bytes.Buffer
	body.WriteString(xml.Header)
	enc := xml.NewEncoder(&body)
	root := xml.StartElement{Name: xml.Name{Space: ASNamespace, Local: r.Action + "Response"}}
	err := enc.EncodeToken(root)
	if err == nil && r.Result != nil {
		err = enc.EncodeElement(r.Result, xml.StartElement{Name: xml.Name{Local: r.Action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{r.RequestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body.Bytes())
}

// asErrorResponse is awsquery's error document:
//
//	<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>
type asErrorResponse struct {
	Type      string `xml:"Error>Type"`
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

type refreshIDResult struct {
	ID string `xml:"InstanceRefreshId"`
}

type describeGroupsResult struct {
	Groups []groupXML `xml:"AutoScalingGroups>member"`
}

type describeRefreshesResult struct {
	Refreshes []refreshXML `xml:"InstanceRefreshes>member"`
}

type ltSpecXML struct {
	ID      string `xml:"LaunchTemplateId,omitempty"`
	Name    string `xml:"LaunchTemplateName,omitempty"`
	Version string `xml:"Version,omitempty"`
}

type groupXML struct {
	Name              string        `xml:"AutoScalingGroupName"`
	ARN               string        `xml:"AutoScalingGroupARN"`
	LaunchTemplate    ltSpecXML     `xml:"LaunchTemplate"`
	MinSize           int32         `xml:"MinSize"`
	MaxSize           int32         `xml:"MaxSize"`
	DesiredCapacity   int32         `xml:"DesiredCapacity"`
	DefaultCooldown   int32         `xml:"DefaultCooldown"`
	AvailabilityZones []string      `xml:"AvailabilityZones>member"`
	HealthCheckType   string        `xml:"HealthCheckType"`
	CreatedTime       string        `xml:"CreatedTime"`
	Instances         []instanceXML `xml:"Instances>member"`
	Status            string        `xml:"Status,omitempty"`
	ServiceLinkedRole string        `xml:"ServiceLinkedRoleARN"`
	TerminationPolicy []string      `xml:"TerminationPolicies>member"`
}

type instanceXML struct {
	ID                   string    `xml:"InstanceId"`
	InstanceType         string    `xml:"InstanceType,omitempty"`
	AvailabilityZone     string    `xml:"AvailabilityZone"`
	LifecycleState       string    `xml:"LifecycleState"`
	HealthStatus         string    `xml:"HealthStatus"`
	LaunchTemplate       ltSpecXML `xml:"LaunchTemplate"`
	ProtectedFromScaleIn bool      `xml:"ProtectedFromScaleIn"`
}

type refreshXML struct {
	ID                   string         `xml:"InstanceRefreshId"`
	Group                string         `xml:"AutoScalingGroupName"`
	Status               string         `xml:"Status"`
	StatusReason         string         `xml:"StatusReason,omitempty"`
	StartTime            string         `xml:"StartTime"`
	EndTime              string         `xml:"EndTime,omitempty"`
	PercentageComplete   int32          `xml:"PercentageComplete"`
	InstancesToUpdate    int32          `xml:"InstancesToUpdate"`
	Preferences          preferencesXML `xml:"Preferences"`
	DesiredConfiguration *desiredXML    `xml:"DesiredConfiguration,omitempty"`
	RollbackDetails      *rollbackXML   `xml:"RollbackDetails,omitempty"`
}

type preferencesXML struct {
	MinHealthyPercentage int32 `xml:"MinHealthyPercentage"`
	SkipMatching         bool  `xml:"SkipMatching"`
	AutoRollback         bool  `xml:"AutoRollback"`
}

type desiredXML struct {
	LaunchTemplate ltSpecXML `xml:"LaunchTemplate"`
}

type rollbackXML struct {
	Reason    string `xml:"RollbackReason"`
	StartTime string `xml:"RollbackStartTime"`
}

func (s *Server) groupXML(g *group) groupXML {
	out := groupXML{Name: g.Name, ARN: fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", g.Region, s.owner, g.Name),
		LaunchTemplate: ltSpecXML{ID: g.LaunchTemplateID, Name: g.LaunchTemplateName, Version: g.LaunchTemplateVersion},
		MinSize:        g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity, DefaultCooldown: 300,
		AvailabilityZones: []string{g.Region + "a"}, HealthCheckType: "EC2", CreatedTime: g.Created.UTC().Format(timeFormat),
		ServiceLinkedRole: fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", s.owner),
		TerminationPolicy: []string{"Default"}}
	for _, in := range g.Instances {
		out.Instances = append(out.Instances, instanceXML{ID: in.ID, AvailabilityZone: g.Region + "a", LifecycleState: "InService", HealthStatus: "Healthy",
			LaunchTemplate: ltSpecXML{ID: g.LaunchTemplateID, Name: g.LaunchTemplateName, Version: strconv.FormatInt(in.Version, 10)}})
	}
	return out
}

func (r *refresh) xml() refreshXML {
	out := refreshXML{ID: r.ID, Group: r.Group, Status: r.Status, StatusReason: r.StatusReason, StartTime: r.Start.UTC().Format(timeFormat),
		PercentageComplete: r.Percentage, InstancesToUpdate: r.ToUpdate,
		Preferences: preferencesXML{MinHealthyPercentage: r.MinHealthyPercentage, SkipMatching: r.SkipMatching, AutoRollback: r.AutoRollback}}
	if !r.End.IsZero() {
		out.EndTime = r.End.UTC().Format(timeFormat)
	}
	if r.LaunchTemplateID != "" {
		out.DesiredConfiguration = &desiredXML{LaunchTemplate: ltSpecXML{ID: r.LaunchTemplateID, Name: r.LaunchTemplateName, Version: r.Version}}
	}
	if !r.RollbackStart.IsZero() {
		out.RollbackDetails = &rollbackXML{Reason: r.RollbackReason, StartTime: r.RollbackStart.UTC().Format(timeFormat)}
	}
	return out
}
