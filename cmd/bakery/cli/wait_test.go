package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/promote/amis"
)

func TestRolloutText(t *testing.T) {
	yes, no := true, false
	d := amis.Deployment{Region: "us-east-1", LaunchTemplate: "golden-prod", LaunchTemplateID: "lt-0123456789abcdef0", Version: 7, Default: true,
		ImageID: "ami-1", Group: "web-prod", RefreshID: "r-1", State: "InProgress", Percentage: 40}
	if got := rolloutLine(d); got != "golden-prod in us-east-1: version 7 (default) with ami-1; web-prod: refresh r-1 InProgress 40%" {
		t.Errorf("rolloutLine = %q", got)
	}
	d.State, d.Reason = "RollbackSuccessful", "health checks failed"
	if got := rolloutLine(d); !strings.HasSuffix(got, "refresh r-1 RollbackSuccessful (health checks failed)") {
		t.Errorf("rolloutLine = %q", got)
	}
	s := style{}
	for _, tc := range []struct {
		deps []amis.Deployment
		want string
	}{
		{nil, textNone},
		{[]amis.Deployment{
			{Region: "us-east-1", LaunchTemplate: "golden-prod", Version: 7, Current: &yes, Group: "web", State: "Successful"},
			{Region: "us-east-1", LaunchTemplate: "golden-prod", Version: 7, Current: &yes, Group: "api", State: "Successful"},
		}, "v7 2 Successful"},
		{[]amis.Deployment{
			{Region: "us-east-1", LaunchTemplate: "golden-prod", Version: 6, Current: &no, Group: "web", State: "RollbackSuccessful"},
			{Region: "eu-west-1", LaunchTemplate: "golden-prod", Version: 3, Current: &yes},
		}, "v6 (old AMI) 1 RollbackSuccessful; v3"},
	} {
		if got := rolloutCell(s, tc.deps); got != tc.want {
			t.Errorf("rolloutCell = %q, want %q", got, tc.want)
		}
	}
}

func TestWaitOptions(t *testing.T) {
	for _, w := range []waitOptions{{wait: true, timeout: 0, interval: time.Second}, {wait: true, timeout: time.Minute, interval: -1}} {
		if err := w.validate(); failure.ClassOf(err) != failure.Config {
			t.Errorf("%+v: %v, want a usage error", w, err)
		}
	}
	ok := waitOptions{timeout: time.Minute, interval: time.Second}
	if err := ok.validate(); err != nil {
		t.Error(err)
	}
	if got := ok.options(nil); got.Timeout != 0 {
		t.Errorf("without --wait: %+v", got)
	}
}
