package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Bases returns, for each of targets, the other targets among them that it is
// built on: those a build arg names (BASE: target:golden-base), or whose
// first-environment tag one of its build args (containers) or variables
// (machine images) spells out, as in BASE: registry.example/dev/golden-base:dev
// (HardCodedBases warns of those). Build starts a target only once
// its bases are published, so a golden base and an app FROM it bake in one
// run, in that order. Targets that name each other are a config error.
func Bases(cfg *config.Config, targets []*config.Target) (map[string][]string, error) {
	env := &cfg.Environments[0]
	tags := map[string]string{} // repository:tag of each target -> target
	inRun := map[string]bool{}
	for _, t := range targets {
		inRun[t.Name] = true
		tag, err := env.Locate(t.Name)
		if err != nil {
			return nil, err
		}
		tags[tag.Context().Name()+":"+tag.TagStr()] = t.Name
	}
	bases := map[string][]string{}
	for _, t := range targets {
		values := t.Args
		if t.Type == config.TypePacker {
			values = t.Variables
		}
		seen := map[string]bool{}
		for _, v := range values {
			if other, ok := config.TargetArg(v); ok {
				if inRun[other] && !seen[other] {
					seen[other] = true
					bases[t.Name] = append(bases[t.Name], other)
				}
				continue
			}
			ref, err := name.NewTag(v, name.WeakValidation)
			if err != nil || !strings.Contains(v, ":") {
				continue
			}
			if base, ok := tags[ref.Context().Name()+":"+ref.TagStr()]; ok && base != t.Name && !seen[base] {
				seen[base] = true
				bases[t.Name] = append(bases[t.Name], base)
			}
		}
		sort.Strings(bases[t.Name])
	}
	return bases, acyclic(bases)
}

// acyclic fails when targets name each other's tags, directly or not.
func acyclic(bases map[string][]string) error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(t string, path []string) error
	visit = func(t string, path []string) error {
		switch state[t] {
		case visiting:
			return failure.New(failure.Config, "targets "+strings.Join(append(path, t), " -> "),
				fmt.Errorf("each is built on the next one's tag, back to %s", t),
				"build one of them FROM an image that is not one of these targets")
		case done:
			return nil
		}
		state[t] = visiting
		for _, b := range bases[t] {
			if err := visit(b, append(path, t)); err != nil {
				return err
			}
		}
		state[t] = done
		return nil
	}
	names := make([]string, 0, len(bases))
	for t := range bases {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		if err := visit(t, nil); err != nil {
			return err
		}
	}
	return nil
}

// launchOrder is the indices of targets with every target after its bases,
// otherwise in their given order: Build starts them in this order, so a
// target waiting for its bases never holds a slot its bases need.
func launchOrder(targets []*config.Target, bases map[string][]string) []int {
	index := map[string]int{}
	for i, t := range targets {
		index[t.Name] = i
	}
	placed := make([]bool, len(targets))
	var order []int
	var place func(i int)
	place = func(i int) {
		if placed[i] {
			return
		}
		placed[i] = true
		for _, b := range bases[targets[i].Name] {
			place(index[b])
		}
		order = append(order, i)
	}
	for i := range targets {
		place(i)
	}
	return order
}
