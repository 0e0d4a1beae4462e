package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bakeryhq/bakery/internal/failure"
)

// TargetNames lists the targets, sorted.
func (c *Config) TargetNames() []string {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupTarget returns the named target, or a config error that lists the
// known ones.
func (c *Config) LookupTarget(name string) (*Target, error) {
	if t, ok := c.Targets[name]; ok {
		return t, nil
	}
	return nil, failure.New(failure.Config, fmt.Sprintf("target %q", name), fmt.Errorf("not defined in %s", c.File),
		"known targets: "+strings.Join(c.TargetNames(), ", "))
}

// LookupEnvironment returns the named environment and its place in the
// promotion order, or a config error that lists the environments.
func (c *Config) LookupEnvironment(name string) (*Environment, int, error) {
	if e, i, ok := c.Environment(name); ok {
		return e, i, nil
	}
	names := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		names[i] = e.Name
	}
	return nil, -1, failure.New(failure.Config, fmt.Sprintf("environment %q", name), fmt.Errorf("not defined in %s", c.File),
		"environments: "+strings.Join(names, ", "))
}
