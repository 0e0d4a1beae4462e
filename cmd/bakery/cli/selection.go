package cli

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/internal/config"
)

// selection is the one grammar of the read commands (docs/cli.md): TARGET...
// as arguments (every target when none is named) and a repeatable --env
// (every environment when none is given). Unknown names are usage errors
// (exit 2) listing the known ones.
type selection struct {
	targets []string
	envs    []string
}

// addEnvFlag defines the repeatable --env of a read command.
func (s *selection) addEnvFlag(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&s.envs, "env", nil, "only this environment (repeatable; default: every environment)")
}

// resolve checks the named targets and environments against cfg.
func (s *selection) resolve(cfg *config.Config, targets []string) error {
	for _, t := range targets {
		if _, err := cfg.LookupTarget(t); err != nil {
			return err
		}
	}
	for _, e := range s.envs {
		if _, _, err := cfg.LookupEnvironment(e); err != nil {
			return err
		}
	}
	s.targets = targets
	return nil
}

// has reports whether target in env is selected.
func (s *selection) has(target, env string) bool {
	return s.hasTarget(target) && s.hasEnv(env)
}

func (s *selection) hasTarget(target string) bool {
	return len(s.targets) == 0 || slices.Contains(s.targets, target)
}

func (s *selection) hasEnv(env string) bool {
	return len(s.envs) == 0 || slices.Contains(s.envs, env)
}

// selected keeps the rows of xs that are selected; key names a row's
// target and environment.
func selected[T any](s *selection, xs []T, key func(T) (target, env string)) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if t, e := key(x); s.has(t, e) {
			out = append(out, x)
		}
	}
	return out
}
