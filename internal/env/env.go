// Package env is the one table of the environment variables bakery reads by
// name, in the style of cosign's pkg/cosign/env: what each means, and whether
// its value is sensitive. Most pass between `bakery build` and bakery's
// Packer plugin (bakery sets them for packer; the plugin's components read
// them once, in Configure or Prepare). Settings overridden by BAKERY_<KEY>
// (BAKERY_BUILDER_ADDRESS, ...) are derived from the config keys by package
// config and are not listed here.
package env

import (
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
)

// Variable is the name of an environment variable.
type Variable string

// VariableOpts describes a Variable.
type VariableOpts struct {
	// Description says what the variable holds.
	Description string
	// Sensitive values are never printed or recorded.
	Sensitive bool
	// External variables belong to another tool (cosign, packer); bakery
	// reads them but does not set them.
	External bool
}

// The variables bakery reads.
const (
	Config          Variable = "BAKERY_CONFIG"
	SigningPassword Variable = "BAKERY_SIGNING_PASSWORD"
	CosignPassword  Variable = "COSIGN_PASSWORD"
	// VerificationKeys is also a derived setting; it is listed because it
	// is read on its own when there is no config file.
	VerificationKeys Variable = "BAKERY_VERIFICATION_KEYS"
	Target           Variable = "BAKERY_TARGET"
	PackerResult     Variable = "BAKERY_PACKER_RESULT"
	PackerTemplate   Variable = "BAKERY_PACKER_TEMPLATE"
	PackerVersion    Variable = "BAKERY_PACKER_VERSION"
	PackerStarted    Variable = "BAKERY_PACKER_STARTED"
	PackerNoAttest   Variable = "BAKERY_PACKER_NO_ATTEST"
	PackerRunUUID    Variable = "PACKER_RUN_UUID"
	// CI systems: bakery reads them to write a job summary and to choose
	// plain progress output.
	CI                Variable = "CI"
	GitHubStepSummary Variable = "GITHUB_STEP_SUMMARY"
	GitLabCI          Variable = "GITLAB_CI"
	// Who ran bakery, recorded in receipts and revocations (Actor).
	GitHubActor      Variable = "GITHUB_ACTOR"
	GitHubServerURL  Variable = "GITHUB_SERVER_URL"
	GitHubRepository Variable = "GITHUB_REPOSITORY"
	GitHubRunID      Variable = "GITHUB_RUN_ID"
	GitLabUserLogin  Variable = "GITLAB_USER_LOGIN"
	GitLabJobURL     Variable = "CI_JOB_URL"
	// SourceDateEpoch stamps the times of container images bakery builds
	// (reproducible-builds.org's SOURCE_DATE_EPOCH).
	SourceDateEpoch Variable = "SOURCE_DATE_EPOCH"
	// NoColor turns colour off in text output (no-color.org).
	NoColor Variable = "NO_COLOR"
)

var variables = map[Variable]VariableOpts{
	Config:            {Description: "the bakery.yaml to load when --config is not given (default ./bakery.yaml); set by bakery build for the Packer plugin"},
	SigningPassword:   {Description: "password of the signing key file", Sensitive: true},
	CosignPassword:    {Description: "cosign's key password, used when BAKERY_SIGNING_PASSWORD is unset", Sensitive: true, External: true},
	VerificationKeys:  {Description: "comma-separated trusted public keys or KMS URIs, for verifying without a config file"},
	Target:            {Description: "the bakery.yaml target packer builds; the post-processor's default target"},
	PackerResult:      {Description: "file the post-processor appends its JSON result line to, for bakery build to read"},
	PackerTemplate:    {Description: "absolute path of the template, whose digest goes into the provenance"},
	PackerVersion:     {Description: "version of the packer binary bakery runs, recorded in the machine-image record"},
	PackerStarted:     {Description: "RFC 3339 time bakery started packer build, recorded in the provenance"},
	PackerNoAttest:    {Description: "1 when bakery build --no-attest: the post-processor pushes and tags without attesting"},
	PackerRunUUID:     {Description: "packer's id of one packer build run; binds the SBOM to the build", External: true},
	CI:                {Description: "set by CI systems (GitHub Actions, GitLab CI, ...): --progress auto prints plain lines with elapsed times", External: true},
	GitHubStepSummary: {Description: "GitHub Actions' job summary file: build and promote append a Markdown table of their outcome", External: true},
	GitLabCI:          {Description: "set by GitLab CI: --progress auto prints plain lines", External: true},
	GitHubActor:       {Description: "GitHub Actions: who started the run; receipts and revocations record it as the actor", External: true},
	GitHubServerURL:   {Description: "GitHub Actions: the server, for the run URL recorded with the actor", External: true},
	GitHubRepository:  {Description: "GitHub Actions: owner/repo, for the run URL recorded with the actor", External: true},
	GitHubRunID:       {Description: "GitHub Actions: the run id, for the run URL recorded with the actor", External: true},
	GitLabUserLogin:   {Description: "GitLab CI: who started the job; receipts and revocations record it as the actor", External: true},
	GitLabJobURL:      {Description: "GitLab CI: the job URL recorded with the actor", External: true},
	SourceDateEpoch:   {Description: "seconds since the Unix epoch stamped as the creation time of container images and of the files their builds write (default 0), so the same inputs give the same digest", External: true},
	NoColor:           {Description: "when set to anything but the empty string, text output has no colour even on a terminal (no-color.org)", External: true},
}

// Actor is who runs bakery, for the audit trail: override (--actor) when
// given; else the CI identity with its run or job URL (GitHub Actions,
// GitLab CI); else the local user; "" when none is known.
func Actor(override string) string {
	switch {
	case override != "":
		return override
	case Getenv(GitHubActor) != "":
		a := Getenv(GitHubActor)
		if srv, repo, run := Getenv(GitHubServerURL), Getenv(GitHubRepository), Getenv(GitHubRunID); srv != "" && repo != "" && run != "" {
			a += " (" + srv + "/" + repo + "/actions/runs/" + run + ")"
		}
		return a
	case Getenv(GitLabUserLogin) != "":
		a := Getenv(GitLabUserLogin)
		if job := Getenv(GitLabJobURL); job != "" {
			a += " (" + job + ")"
		}
		return a
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Epoch is SOURCE_DATE_EPOCH in seconds, 0 when it is unset or empty; an
// error names a value that is not a whole number of seconds.
func Epoch() (int64, error) {
	v := Getenv(SourceDateEpoch)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q is not a whole number of seconds since 1970", SourceDateEpoch, v)
	}
	return n, nil
}

// Getenv returns the value of v. It panics on a variable missing from the
// table: every variable bakery reads must be described there.
func Getenv(v Variable) string {
	s, _ := LookupEnv(v)
	return s
}

// LookupEnv is Getenv that also says whether v is set.
func LookupEnv(v Variable) (string, bool) {
	if _, ok := variables[v]; !ok {
		panic(fmt.Sprintf("env: %s is not in the table of variables", v))
	}
	return os.LookupEnv(string(v))
}

// Set returns "NAME=value", for a child process's environment.
func (v Variable) Set(value string) string { return string(v) + "=" + value }

// String returns the variable's name.
func (v Variable) String() string { return string(v) }

// Described is a Variable with its description, for documentation.
type Described struct {
	Name Variable
	VariableOpts
}

// All lists the table in name order.
func All() []Described {
	out := make([]Described, 0, len(variables))
	for v, o := range variables {
		out = append(out, Described{Name: v, VariableOpts: o})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
