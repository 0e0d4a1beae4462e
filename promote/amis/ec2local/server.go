// Package ec2local is a local stand-in for the Amazon EC2 Query API, for
// tests and demos. It serves, over plain HTTP, the subset of EC2 that bakery
// uses to promote machine images: RegisterImage, DescribeImages, CopyImage,
// ModifyImageAttribute, DescribeImageAttribute, CreateTags and
// DeregisterImage; the EBS snapshots behind the images, DescribeSnapshots and
// DeleteSnapshot (snapshot.go); the launch template calls (launchtemplate.go); and, on the
// same URL, the Auto Scaling calls that replace a group's instances
// (autoscaling.go; point AWS_ENDPOINT_URL_AUTO_SCALING here too). Requests and responses follow the wire format of the real
// service (form-encoded `Action=...&Version=2016-11-15` requests, XML
// responses in the 2016-11-15 namespace, EC2's error document), so the
// unmodified aws-sdk-go-v2 EC2 client talks to it: point the client's
// BaseEndpoint, or AWS_ENDPOINT_URL_EC2, at the server's URL.
//
// Each request's region is the one in its SigV4 credential scope
// (`Credential=AKID/DATE/REGION/ec2/aws4_request`), so one server holds the
// images of every region. The signature itself is NOT verified: any request
// with a well-formed Authorization header and an accepted access key id (by
// default any non-empty one) is authenticated. A request without one fails
// with AuthFailure, as an unsigned request to EC2 does.
//
// The server models a single AWS account that owns every image and snapshot.
// Images and snapshots are kept in memory; a Server is safe for concurrent use.
package ec2local

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Namespace is the XML namespace of EC2 responses.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// DefaultOwnerID is the account id that owns the server's images unless
// WithOwnerID says otherwise.
const DefaultOwnerID = "123456789012"

// maxBody bounds the size of a request body.
const maxBody = 1 << 20

// Call records one request the server answered, for assertions in tests.
type Call struct {
	// Action is the request's Action parameter ("CopyImage").
	Action string
	// Region is the region of the request's credential scope; empty when the
	// request carried no credentials.
	Region string
	// AccessKeyID is the access key id of the credential scope.
	AccessKeyID string
	// Code is the error code the server answered with, empty on success.
	Code string
	// Params holds every request parameter.
	Params url.Values
}

// Server is an in-memory EC2 Query API endpoint. It is an http.Handler:
// serve it with httptest.NewServer or http.ListenAndServe.
type Server struct {
	mu     sync.Mutex
	images map[string]map[string]*image // region -> id -> image
	// snapshots are the EBS snapshots: region -> id -> snapshot.
	snapshots map[string]map[string]*Snapshot
	tokens    map[string]map[string]token // region -> client token -> copy
	calls     []Call
	failures  map[string][]*apiError // action -> injected failures, oldest first
	seq       uint64                 // ids and request ids
	now       func() time.Time

	owner      string
	accessKeys map[string]bool // nil: any non-empty key
	copyPolls  int

	templates    map[string]map[string]*LaunchTemplate // region -> id -> template
	groups       map[string]map[string]*group          // region -> name -> group
	refreshPolls int
	failRefresh  []string // reasons the next refreshes fail with
}

// Option configures a Server.
type Option func(*Server)

// WithAccessKeys restricts the accepted access key ids to ids. By default
// any non-empty access key id is accepted.
func WithAccessKeys(ids ...string) Option {
	return func(s *Server) {
		s.accessKeys = make(map[string]bool, len(ids))
		for _, id := range ids {
			s.accessKeys[id] = true
		}
	}
}

// WithOwnerID sets the account id reported as the owner of every image.
func WithOwnerID(id string) Option {
	return func(s *Server) { s.owner = id }
}

// WithCopyPending makes every image CopyImage creates start in the pending
// state, reported as such by the first polls DescribeImages calls that
// return it before it turns available, as a real copy does while its
// snapshots are copied. The default, 0, makes copies available at once.
func WithCopyPending(polls int) Option {
	return func(s *Server) { s.copyPolls = polls }
}

// New returns an empty server.
func New(opts ...Option) *Server {
	s := &Server{
		images:    map[string]map[string]*image{},
		snapshots: map[string]map[string]*Snapshot{},
		tokens:    map[string]map[string]token{},
		failures:  map[string][]*apiError{},
		now:       time.Now,
		owner:     DefaultOwnerID,

		templates:    map[string]map[string]*LaunchTemplate{},
		groups:       map[string]map[string]*group{},
		refreshPolls: DefaultRefreshPolls,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Calls returns the requests answered so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Params = cloneValues(c.Params)
		out[i] = c
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// FailNext makes the next request for action fail with the given EC2 error
// code and message, after authentication and before it changes anything.
// Calls queue up: n calls to FailNext fail the next n requests. The HTTP
// status is the one EC2 uses for the code (400 for codes it does not know).
// Codes the SDK retries (InternalError, RequestLimitExceeded, ...) are
// retried by clients like any other.
func (s *Server) FailNext(action, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[action] = append(s.failures[action], &apiError{status: statusOf(code), code: code, message: message})
}

// ServeHTTP answers one EC2 Query API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	parseErr := r.ParseForm()
	akid, region, signed := credentialScope(r.Header.Get("Authorization"))

	s.mu.Lock()
	s.seq++
	requestID := fmt.Sprintf("00000000-0000-4000-8000-%012x", s.seq)
	call := Call{Action: r.Form.Get("Action"), Region: region, AccessKeyID: akid, Params: cloneValues(r.Form)}
	resp, err := s.dispatch(parseErr, signed, call, r.Form)
	if err != nil {
		call.Code = err.code
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	autoScaling := r.Form.Get("Version") == ASVersion
	if autoScaling {
		w.Header().Set("X-Amzn-Requestid", requestID)
	}
	switch {
	case err != nil && autoScaling:
		kind := "Sender"
		if err.status >= 500 {
			kind = "Receiver"
		}
		writeXML(w, err.status, xml.Name{Space: ASNamespace, Local: "ErrorResponse"}, asErrorResponse{Type: kind, Code: err.code, Message: err.message, RequestID: requestID})
		return
	case err != nil:
		writeXML(w, err.status, xml.Name{Local: "Response"}, errorResponse{Code: err.code, Message: err.message, RequestID: requestID})
		return
	}
	resp.setRequestID(requestID)
	if as, ok := resp.(*asResponse); ok {
		as.write(w)
		return
	}
	writeXML(w, http.StatusOK, xml.Name{Space: Namespace, Local: call.Action + "Response"}, resp)
}

// dispatch authenticates a request and runs its action. s.mu is held.
func (s *Server) dispatch(parseErr error, signed bool, call Call, form url.Values) (response, *apiError) {
	if !signed || !s.accepts(call.AccessKeyID) {
		return nil, errAuthFailure()
	}
	if parseErr != nil {
		return nil, errorf("InvalidParameterValue", "The request could not be parsed: %v", parseErr)
	}
	if call.Action == "" {
		return nil, errMissing("Action")
	}
	table := handlers
	if form.Get("Version") == ASVersion {
		table = asHandlers
	}
	h, ok := table[call.Action]
	if !ok {
		return nil, errorf("InvalidAction", "The action %s is not valid for this web service.", call.Action)
	}
	if form.Get("DryRun") == "true" {
		return nil, &apiError{status: http.StatusPreconditionFailed, code: "DryRunOperation", message: "Request would have succeeded, but DryRun flag is set."}
	}
	if q := s.failures[call.Action]; len(q) > 0 {
		s.failures[call.Action] = q[1:]
		return nil, q[0]
	}
	return h(s, call.Region, form)
}

func (s *Server) accepts(akid string) bool {
	if akid == "" {
		return false
	}
	return s.accessKeys == nil || s.accessKeys[akid]
}

// credentialScope extracts the access key id and region from a SigV4
// Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=..., Signature=...
//
// The signature is not checked.
func credentialScope(header string) (akid, region string, ok bool) {
	alg, params, found := strings.Cut(header, " ")
	if !found || alg != "AWS4-HMAC-SHA256" {
		return "", "", false
	}
	for _, p := range strings.Split(params, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(p), "Credential=")
		if !found {
			continue
		}
		parts := strings.Split(v, "/")
		if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[4] != "aws4_request" {
			return "", "", false
		}
		return parts[0], parts[2], true
	}
	return "", "", false
}

// writeXML answers with the document v, its root element named name.
func writeXML(w http.ResponseWriter, status int, name xml.Name, v any) {
	var body bytes.Buffer
	body.WriteString(xml.Header)
	if err := xml.NewEncoder(&body).EncodeElement(v, xml.StartElement{Name: name}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
