package ec2local

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is an EC2 error response: an HTTP status, an error code and a
// message.
type apiError struct {
	status  int
	code    string
	message string
}

// errorResponse is EC2's error document:
//
//	<Response><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors><RequestID>..</RequestID></Response>
type errorResponse struct {
	Code      string `xml:"Errors>Error>Code"`
	Message   string `xml:"Errors>Error>Message"`
	RequestID string `xml:"RequestID"`
}

// errorf returns an error with the status EC2 uses for code.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: statusOf(code), code: code, message: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status EC2 answers an error code with.
func statusOf(code string) int {
	switch code {
	case "AuthFailure":
		return http.StatusUnauthorized
	case "UnauthorizedOperation", "OptInRequired", "Blocked":
		return http.StatusForbidden
	case "DryRunOperation":
		return http.StatusPreconditionFailed
	case "InternalError", "InternalFailure":
		return http.StatusInternalServerError
	case "Unavailable", "ServiceUnavailable":
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func errAuthFailure() *apiError {
	return errorf("AuthFailure", "AWS was not able to validate the provided access credentials")
}

func errMissing(param string) *apiError {
	return errorf("MissingParameter", "The request must contain the parameter %s", param)
}

func errAMINotFound(ids ...string) *apiError {
	return errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", strings.Join(ids, ", "))
}

func errAMIMalformed(id string) *apiError {
	return errorf("InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", id)
}

func errSnapshotNotFound(ids ...string) *apiError {
	return errorf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", strings.Join(ids, ", "))
}

func errSnapshotMalformed(id string) *apiError {
	return errorf("InvalidSnapshotID.Malformed", "Invalid id: %q (expecting \"snap-...\")", id)
}
