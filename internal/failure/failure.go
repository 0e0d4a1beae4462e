// Package failure defines the classes of failure bakery reports and the exit
// code of each. Libraries wrap their errors with a Class; only cmd/bakery turns
// the class into an exit code.
package failure

import (
	"errors"
	"strings"
)

// Class is a kind of failure a caller must be able to tell apart.
type Class int

// The classes of failure, each with its own exit code (see ExitCode).
const (
	// Internal is anything not classified below.
	Internal Class = iota
	// Config is a bad configuration file, flag or environment variable.
	Config
	// Build means a target failed to build.
	Build
	// Verify means a signature or attestation check failed.
	Verify
	// Policy means a policy denied the operation.
	Policy
	// Unavailable means a registry or the build daemon could not be reached.
	Unavailable
	// Conflict means a concurrent promotion into the same environment won:
	// this one's receipt is signed but the environment runs the other digest.
	Conflict
	// Deploy means the promotion stands but its rollout did not: an instance
	// refresh, waited for, ended failed, cancelled or rolled back, so the
	// instances were not replaced.
	Deploy
)

// ExitCode returns the process exit code for the class.
func (c Class) ExitCode() int {
	switch c {
	case Config:
		return 2
	case Build:
		return 3
	case Verify:
		return 4
	case Policy:
		return 5
	case Unavailable:
		return 6
	case Conflict:
		return 7
	case Deploy:
		return 8
	default:
		return 1
	}
}

func (c Class) String() string {
	switch c {
	case Config:
		return "config"
	case Build:
		return "build"
	case Verify:
		return "verification"
	case Policy:
		return "policy"
	case Unavailable:
		return "unavailable"
	case Conflict:
		return "conflict"
	case Deploy:
		return "deploy"
	default:
		return "internal"
	}
}

// Error is a classified error about one subject (a target, an image, a file),
// with a hint that tells the reader what to do next.
type Error struct {
	Class   Class
	Subject string
	Err     error
	Hint    string
}

// New returns a classified error. subject names what failed (for example
// `target "web"` or "bakery.yaml:12"); hint says what to do and may be empty.
func New(class Class, subject string, err error, hint string) *Error {
	return &Error{Class: class, Subject: subject, Err: err, Hint: hint}
}

// Error renders the error on a single line: subject: cause (hint).
func (e *Error) Error() string {
	var b strings.Builder
	if e.Subject != "" {
		b.WriteString(e.Subject)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(OneLine(e.Err.Error()))
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf reports the class of the first classified error in err's tree.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Internal
}

// OneLine collapses a multi-line message (BuildKit and gRPC errors often carry
// stacks and newlines) into one line, dropping blank lines.
func OneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, ": ")
}
