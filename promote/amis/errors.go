package amis

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bakeryhq/bakery/internal/failure"
)

// ErrNoCredentials means no AWS credentials could be found. Publish returns
// it, wrapped, before it sends any request.
var ErrNoCredentials = errors.New("no AWS credentials")

const credentialsHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE to a profile of ~/.aws/config " +
	"(AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), or run where an instance or task role provides them"

// NotFoundError means a source AMI does not exist in its region, as far as
// the credentials in use can see: it was deregistered, the id is wrong or
// malformed, or it belongs to another account and is not shared with this
// one.
type NotFoundError struct {
	Region string
	ID     string
	// Err is EC2's answer, if any.
	Err error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("AMI %s not found in %s", e.ID, e.Region)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// StateError means an AMI is not in a state promotion can use: a source that
// is not available, or a failed copy left by an earlier run.
type StateError struct {
	Region string
	ID     string
	State  string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("AMI %s in %s is %s, not available", e.ID, e.Region, e.State)
}

// notFound reports whether err is EC2's answer that an AMI id does not exist
// or is not an AMI id.
func notFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable":
		return true
	}
	return false
}

// classify returns the failure class of an error from the EC2 API: requests
// that EC2 refused for want of permission are a configuration problem,
// requests that got no answer mean EC2 is unavailable.
func classify(err error) failure.Class {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failure.ClassOf(err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AuthFailure", "UnauthorizedOperation", "OptInRequired", "Blocked",
			"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "RequestExpired":
			return failure.Config
		}
		return failure.ClassOf(err)
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return failure.Unavailable
	}
	return failure.ClassOf(err)
}
