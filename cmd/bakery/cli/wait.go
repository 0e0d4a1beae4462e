package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/promote/amis"
)

// waitOptions are --wait, --wait-timeout and --wait-interval: waiting for
// a machine image's instance refreshes (aws.rollout) to end.
type waitOptions struct {
	wait     bool
	timeout  time.Duration
	interval time.Duration
}

func (w *waitOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&w.wait, "wait", false, "wait for a machine image's instance refreshes (aws.rollout) to end, with progress on stderr; exit 8 if one fails or rolls back")
	f.DurationVar(&w.timeout, "wait-timeout", 30*time.Minute, "with --wait, how long to wait (then exit 6; the promotion stands)")
	f.DurationVar(&w.interval, "wait-interval", promote.DefaultWaitInterval, "with --wait, how often to poll the refreshes")
}

func (w *waitOptions) validate() error {
	switch {
	case w.timeout <= 0:
		return usageError("--wait-timeout must be positive, got %s", w.timeout)
	case w.interval <= 0:
		return usageError("--wait-interval must be positive, got %s", w.interval)
	}
	return nil
}

// options is what the promoter waits with: nothing without --wait.
func (w *waitOptions) options(cmd *cobra.Command) promote.Wait {
	if !w.wait {
		return promote.Wait{}
	}
	return promote.Wait{Timeout: w.timeout, Interval: w.interval, Progress: cmd.ErrOrStderr()}
}

// rolloutLine is one deployment of a result in text: the template version
// and, for a group, its refresh.
func rolloutLine(d amis.Deployment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s: version %d", d.LaunchTemplate, d.Region, d.Version)
	if d.Default {
		b.WriteString(" (default)")
	}
	b.WriteString(" with " + d.ImageID)
	if d.Group != "" {
		fmt.Fprintf(&b, "; %s: refresh %s %s", d.Group, dash(d.RefreshID), refreshState(d))
	}
	return b.String()
}

// refreshState is a refresh's state, with its percentage while it runs and
// its reason when it did not succeed.
func refreshState(d amis.Deployment) string {
	s := dash(d.State)
	if d.State != "" && !amis.Terminal(d.State) {
		s += fmt.Sprintf(" %d%%", d.Percentage)
	}
	if d.Reason != "" && d.State != "Successful" {
		s += " (" + d.Reason + ")"
	}
	return s
}

// rolloutCell is a status row's ROLLOUT: the default version of each
// template, "(old AMI)" when it does not carry the environment's AMI, and
// the groups' refresh states counted ("v3 2 Successful").
func rolloutCell(s style, deps []amis.Deployment) string {
	if len(deps) == 0 {
		return textNone
	}
	var parts []string
	alert := false
	byTemplate := map[string][]amis.Deployment{}
	var order []string
	for _, d := range deps {
		k := d.Region + "/" + d.LaunchTemplate
		if _, ok := byTemplate[k]; !ok {
			order = append(order, k)
		}
		byTemplate[k] = append(byTemplate[k], d)
	}
	for _, k := range order {
		ds := byTemplate[k]
		cell := fmt.Sprintf("v%d", ds[0].Version)
		if ds[0].Current != nil && !*ds[0].Current {
			cell += " (old AMI)"
			alert = true
		}
		counts := map[string]int{}
		var states []string
		for _, d := range ds {
			if d.Group == "" {
				continue
			}
			st := dash(d.State)
			if counts[st] == 0 {
				states = append(states, st)
			}
			counts[st]++
			if d.State != "" && d.State != "Successful" && amis.Terminal(d.State) {
				alert = true
			}
		}
		for _, st := range states {
			cell += fmt.Sprintf(" %d %s", counts[st], st)
		}
		parts = append(parts, cell)
	}
	out := strings.Join(parts, "; ")
	if alert {
		return s.alert(out)
	}
	return out
}
