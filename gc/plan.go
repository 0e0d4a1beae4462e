package gc

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// keepSet maps a kept digest to why it is kept.
type keepSet map[string][]string

func (k keepSet) add(d, why string) bool {
	if slices.Contains(k[d], why) {
		return false
	}
	_, had := k[d]
	k[d] = append(k[d], why)
	return !had
}

// Plan reads every target's repositories in every environment and decides
// what sel's repositories delete.
func (c *collector) Plan(ctx context.Context, sel Selection) (*Plan, error) {
	cfg := c.opts.Config
	c.requests.Store(0)
	ctx = c.counting(ctx)
	now := c.opts.Now().UTC()
	revs, err := revoke.Load(ctx, cfg, c.opts.Verifier)
	if err != nil {
		return nil, err
	}
	scans, err := c.scanAll(ctx)
	if err != nil {
		return nil, err
	}
	keeps := map[*repoScan]keepSet{}
	for _, s := range scans {
		keeps[s] = c.ownKeep(s, revs, now)
	}
	laterKeeps(scans, keeps)
	protected := bases(scans, keeps)
	plan := &Plan{Time: now.Format(revoke.TimeFormat), Ignored: slices.Clone(revs.Ignored)}
	planned := map[string]bool{}
	keptAMIs := map[string]bool{}
	for _, s := range scans {
		for d := range keeps[s] {
			if sub := s.subjects[d]; sub != nil {
				for _, id := range sub.amis {
					keptAMIs[id] = true
				}
			}
		}
	}
	for _, s := range scans {
		if s.ignoredLog != "" {
			plan.Ignored = append(plan.Ignored, s.ignoredLog)
		}
		for _, sub := range s.subjects {
			if sub.unreadable != "" && sub.mediaType != "" {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s@%s: kept, not judged: its attestations could not be read (%s)", s.repo, sub.digest, sub.unreadable))
			}
		}
		if s.untrusted() {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: digests have attestations, but none verifies with the trusted keys: nothing "+
				"there is judged or deleted; check verification.keys (or --key), and keep a retired key there while its digests must stay", s.repo))
		}
		if n, other := s.foreign(); n > 0 {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: %d digests hold receipts for %s that name %s, not this repository: kept, not judged; "+
				"run gc with the registry address bakery signed for", s.repo, n, s.env.Name, other))
		}
		if !selected(sel.Targets, s.target) || !selected(sel.Environments, s.env.Name) || planned[s.repo.String()] {
			continue // a repository two environments share is planned once: their keeps are merged
		}
		planned[s.repo.String()] = true
		r := s.plan(keeps[s], protected, keptAMIs)
		if s.ignoredLog != "" && (len(r.Delete) > 0 || len(r.AMIs) > 0) {
			r.Left = append(r.Left, fmt.Sprintf("nothing deleted here: %s:%s is not a gc log a trusted key signed, and gc will not overwrite it "+
				"(its runs are the history of what was deleted); check the keys, or delete that tag by hand if it is junk", s.repo, record.Tag))
			r.Delete, r.AMIs = []record.Deletion{}, []record.AMI{}
			r.Bytes = 0
		}
		window, minAge := cfg.RetentionOf(s.env)
		r.Rules = record.Rules{RollbackWindow: window, MinAge: minAge.String()}
		plan.Repositories = append(plan.Repositories, r)
		plan.Bytes += r.Bytes
		plan.AMIs += len(r.AMIs)
		plan.Deletions += len(r.Delete)
	}
	plan.Requests = c.requests.Load()
	return plan, nil
}

func selected(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

// scanAll scans every target's repository in every environment, in the
// order of the config (targets sorted, environments as listed).
func (c *collector) scanAll(ctx context.Context) ([]*repoScan, error) {
	cfg := c.opts.Config
	type job struct {
		target string
		env    int
	}
	var jobs []job
	for _, t := range cfg.TargetNames() {
		for i := range cfg.Environments {
			jobs = append(jobs, job{t, i})
		}
	}
	scans := make([]*repoScan, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.parallel()/2, 1))
	for i, j := range jobs {
		g.Go(func() error {
			s, err := c.scan(gctx, j.target, j.env)
			scans[i] = s
			return err
		})
	}
	return scans, g.Wait()
}

// ownKeep is what s's environment keeps by its own rules: what it runs, its
// rollback window, what is younger than the minimum age, what a revocation
// names.
func (c *collector) ownKeep(s *repoScan, revs *revoke.Set, now time.Time) keepSet {
	keep := keepSet{}
	window, minAge := c.opts.Config.RetentionOf(s.env)
	if s.current != "" {
		keep.add(s.current, fmt.Sprintf("%s runs it (tag %s)", s.env.Name, s.envTag))
	}
	for d, sub := range s.subjects {
		if minAge > 0 && sub.mediaType != "" {
			if t := newest(sub); !t.IsZero() && now.Sub(t) < minAge {
				keep.add(d, fmt.Sprintf("younger than %s (last built or receipted %s)", minAge, t.Format(time.RFC3339)))
			}
		}
	}
	for d, why := range s.window(window) {
		keep.add(d, why)
	}
	for _, e := range revs.Entries() {
		if sub := s.subjects[e.Digest]; sub != nil && sub.mediaType != "" {
			keep.add(e.Digest, "named by a revocation (the evidence stays)")
		}
	}
	for d, sub := range s.subjects {
		if sub.unreadable != "" && sub.mediaType != "" {
			keep.add(d, "not judged: its attestations could not be read ("+sub.unreadable+")")
		}
	}
	if s.untrusted() {
		for d, sub := range s.subjects {
			if sub.mediaType != "" {
				keep.add(d, "not judged: no digest in this repository verifies with the trusted keys")
			}
		}
	}
	for d, sub := range s.subjects {
		if sub.foreign != "" && sub.mediaType != "" {
			keep.add(d, fmt.Sprintf("not judged: its %s receipt names %s, not this repository (read the registry by the address bakery signed for)",
				s.env.Name, sub.foreign))
		}
	}
	return keep
}

// untrusted says that digests of s carry attestations but not one of its
// digests has a verified receipt or provenance: the trusted keys are not
// the ones that signed (a wrong --key, a rotated key), and judging by them
// would take the whole history for junk.
func (s *repoScan) untrusted() bool {
	unverified := false
	for _, sub := range s.subjects {
		if len(sub.receipts) > 0 || !sub.built.IsZero() || sub.foreign != "" {
			return false
		}
		unverified = unverified || sub.unverified
	}
	return unverified
}

// foreign counts the digests whose receipts name another repository, and
// one such name.
func (s *repoScan) foreign() (n int, other string) {
	for _, sub := range s.subjects {
		if sub.foreign != "" && sub.mediaType != "" {
			n, other = n+1, sub.foreign
		}
	}
	return n, other
}

// window is the rollback window of s's environment, as rollback picks
// (promote.pickRollback): by the time each digest first arrived there (a
// PASSED build, promotion or import receipt; rollbacks do not count), the
// newest window-1 that arrived before the current one, which rollback can
// go back to, and every digest that arrived after it (rolled back from,
// and promotable again).
func (s *repoScan) window(window int) map[string]string {
	first := map[string]string{}
	for d, sub := range s.subjects {
		if sub.mediaType == "" {
			continue
		}
		for _, r := range sub.receipts {
			if r.Result != receipt.Passed || r.Action == receipt.ActionRollback {
				continue
			}
			if t, ok := first[d]; !ok || r.Time < t {
				first[d] = r.Time
			}
		}
	}
	type arrival struct{ digest, time string }
	var earlier []arrival
	out := map[string]string{}
	currentAt, receipted := first[s.current]
	for d, t := range first {
		switch {
		case d == s.current:
		case receipted && t > currentAt:
			out[d] = fmt.Sprintf("arrived in %s after the digest it runs (a rollback took it out)", s.env.Name)
		default:
			earlier = append(earlier, arrival{d, t})
		}
	}
	sort.Slice(earlier, func(i, j int) bool { return earlier[i].time > earlier[j].time }) // fixed-width times
	n := window
	if s.current != "" {
		n-- // the current digest is the window's first
	}
	for i, a := range earlier {
		if i >= n {
			break
		}
		out[a.digest] = fmt.Sprintf("in %s's rollback window (%d of %d)", s.env.Name, i+window-n+1, window)
	}
	return out
}

// newest is when sub was last built or receipted (zero if never, as far
// as verified evidence says).
func newest(sub *subject) time.Time {
	t := sub.built
	for _, r := range sub.receipts {
		if rt, err := time.Parse(revoke.TimeFormat, r.Time); err == nil && rt.After(t) {
			t = rt
		}
	}
	return t
}

// laterKeeps adds to each environment's keep what a later environment of
// the same target keeps, and merges the keeps of environments that share
// a repository.
func laterKeeps(scans []*repoScan, keeps map[*repoScan]keepSet) {
	byTarget := map[string][]*repoScan{}
	for _, s := range scans {
		byTarget[s.target] = append(byTarget[s.target], s)
	}
	for _, ss := range byTarget {
		sort.Slice(ss, func(i, j int) bool { return ss[i].envIdx < ss[j].envIdx })
		for i := len(ss) - 2; i >= 0; i-- {
			later := ss[i+1]
			for d := range keeps[later] {
				if sub := ss[i].subjects[d]; sub != nil && sub.mediaType != "" {
					keeps[ss[i]].add(d, later.env.Name+" keeps it")
				}
			}
		}
	}
	byRepo := map[string][]*repoScan{}
	for _, s := range scans {
		byRepo[s.repo.String()] = append(byRepo[s.repo.String()], s)
	}
	for _, ss := range byRepo {
		for _, a := range ss {
			for _, b := range ss {
				if a == b {
					continue
				}
				for d := range keeps[b] {
					keeps[a].add(d, b.env.Name+" keeps it (same repository)")
				}
			}
		}
	}
}

// bases keeps, in every repository that has them, the digests the
// verified provenance of a kept digest names (transitively), and returns
// them (digest → why), platform images included.
func bases(scans []*repoScan, keeps map[*repoScan]keepSet) map[string]string {
	protected := map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, s := range scans {
			for d := range keeps[s] {
				sub := s.subjects[d]
				if sub == nil {
					continue
				}
				for _, dep := range sub.deps {
					if _, ok := protected[dep]; !ok {
						protected[dep] = fmt.Sprintf("a base or material of %s@%s, which %s keeps", s.target, short(d), s.env.Name)
						changed = true
					}
				}
			}
		}
		for _, s := range scans {
			for d, sub := range s.subjects {
				why, ok := protected[d]
				for _, ch := range sub.children { // named by a platform image: its index stays
					if w, named := protected[ch]; named && !ok {
						why, ok = w+" (a platform image of it)", true
					}
				}
				if ok && sub.mediaType != "" && keeps[s].add(d, why) {
					changed = true
				}
			}
		}
	}
	return protected
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// plan is what s deletes: each subject keep does not hold, with its
// attachments and the platform images no kept index uses, then the
// attachments whose subject is gone; never a manifest kept or in use.
func (s *repoScan) plan(keep keepSet, protected map[string]string, keptAMIs map[string]bool) *Repository {
	p := &planner{visited: map[string]bool{}, s: s, inUse: s.inUse(keep, protected), tagsOf: map[string][]string{}, planned: map[string]bool{},
		r: &Repository{Target: s.target, Environment: s.env.Name, Repository: s.repo.String(), scan: s,
			Keep: []Kept{}, Delete: []record.Deletion{}, AMIs: []record.AMI{}}}
	for t, d := range s.tags {
		p.tagsOf[d] = append(p.tagsOf[d], t)
	}
	for _, ts := range p.tagsOf {
		sort.Strings(ts)
	}
	for _, d := range sortedKeys(s.subjects) {
		sub := s.subjects[d]
		switch reasons, ok := keep[d]; {
		case ok:
			p.r.Keep = append(p.r.Keep, Kept{Digest: d, Kind: sub.kind(), Reasons: reasons})
		case sub.mediaType == "":
			p.attachments(d, "attached to "+short(d)+", which is not in the repository", record.KindOrphan)
		default:
			p.subject(sub, keptAMIs)
		}
	}
	for _, run := range s.log.Pending() {
		p.r.Resumes = append(p.r.Resumes, run.Time)
		for _, a := range run.AMIs { // deregistering is idempotent: finish it
			if !keptAMIs[a.ID] && !slices.ContainsFunc(p.r.AMIs, func(b record.AMI) bool { return b.ID == a.ID }) {
				p.r.AMIs = append(p.r.AMIs, record.AMI{Digest: a.Digest, Region: a.Region, ID: a.ID})
			}
		}
	}
	p.r.Bytes = s.bytes(p.planned)
	p.r.inUse = p.inUse
	return p.r
}

// planner orders one repository's deletions.
type planner struct {
	visited map[string]bool
	s       *repoScan
	r       *Repository
	inUse   map[string]bool
	tagsOf  map[string][]string
	planned map[string]bool
}

// del plans d, once, unless a kept digest uses it.
func (p *planner) del(d record.Deletion) {
	if p.inUse[d.Digest] || p.planned[d.Digest] {
		return
	}
	p.planned[d.Digest] = true
	d.Tags = p.tagsOf[d.Digest]
	p.r.Delete = append(p.r.Delete, d)
}

// attachments plans what is attached to subject, deepest first.
func (p *planner) attachments(subject, why, kind string) {
	if p.visited[subject] {
		return // a cycle of attachment tags (anyone can tag anything)
	}
	p.visited[subject] = true
	for _, t := range p.s.attached[subject] {
		d := p.s.tags[t]
		if p.inUse[d] && !p.inUse[subject] {
			p.r.Left = append(p.r.Left, fmt.Sprintf("tag %s: attached to %s, which goes, but it points at %s, which is kept: left in place (the registry deletes manifests, not tags)",
				t, short(subject), short(d)))
			continue
		}
		p.attachments(d, why, record.KindAttachments)
		p.del(record.Deletion{Digest: d, Kind: kind, Subject: subject, Reason: why})
	}
}

// subject plans sub: the attachments of its platform images to delete and
// its own, sub, those platform images, and its AMIs.
func (p *planner) subject(sub *subject, keptAMIs map[string]bool) {
	d := sub.digest
	var children []string
	for _, ch := range sub.children {
		if !p.inUse[ch] {
			children = append(children, ch)
		}
	}
	for _, ch := range children {
		p.attachments(ch, "attached to a platform image of deleted "+short(d), record.KindAttachments)
	}
	p.attachments(d, "attached to deleted "+short(d), record.KindAttachments)
	p.del(record.Deletion{Digest: d, Kind: sub.kind(), Reason: p.s.why(sub), Receipts: record.Receipts(sub.receipts)})
	for _, ch := range children {
		p.del(record.Deletion{Digest: ch, Kind: record.KindPlatform, Subject: d, Reason: "a platform image of deleted " + short(d) + " that no kept index uses"})
	}
	for _, region := range sortedKeys(sub.amis) {
		if id := sub.amis[region]; !keptAMIs[id] {
			p.r.AMIs = append(p.r.AMIs, record.AMI{Digest: d, Region: region, ID: id})
		}
	}
}

// kind is what sub is: an index, a machine image record or an image.
func (sub *subject) kind() string {
	switch {
	case len(sub.children) > 0 || strings.Contains(sub.mediaType, "index") || strings.Contains(sub.mediaType, "manifest.list"):
		return record.KindIndex
	case sub.machineImage:
		return record.KindMachineImage
	}
	return record.KindImage
}

// why says why sub goes.
func (s *repoScan) why(sub *subject) string {
	switch {
	case sub.pending != "" && len(sub.receipts) == 0:
		return "left by the unfinished gc run of " + sub.pending
	case len(sub.receipts) > 0:
		return fmt.Sprintf("superseded: outside %s's rollback window, and no later environment keeps it", s.env.Name)
	case !sub.built.IsZero():
		return "built, never promoted here, and older than the minimum age"
	default:
		return "no verified receipt or provenance: not bakery's, or its evidence is gone"
	}
}

// inUse is every manifest of s a kept digest needs: the kept subjects,
// their platform images, everything attached to them, the gc log, and
// whatever the provenance of a kept digest names.
func (s *repoScan) inUse(keep keepSet, protected map[string]string) map[string]bool {
	in := map[string]bool{s.logDigest: true}
	var mark func(d string)
	mark = func(d string) {
		if in[d] {
			return
		}
		in[d] = true
		if m := s.manifests[d]; m != nil {
			for _, ch := range m.children {
				mark(ch)
			}
		}
		for _, t := range s.attached[d] {
			mark(s.tags[t])
		}
	}
	for d := range keep {
		mark(d)
	}
	for d := range protected {
		if s.manifests[d] != nil {
			mark(d)
		}
	}
	if s.current != "" {
		mark(s.current)
	}
	return in
}

// bytes is what deleting planned frees: the manifests, and the blobs they
// use that no remaining manifest uses.
func (s *repoScan) bytes(planned map[string]bool) int64 {
	kept := map[string]bool{}
	for d, m := range s.manifests {
		if !planned[d] {
			for b := range m.blobs {
				kept[b] = true
			}
		}
	}
	counted := map[string]bool{}
	var n int64
	for d := range planned {
		m := s.manifests[d]
		if m == nil {
			continue
		}
		n += m.size
		for b, size := range m.blobs {
			if !kept[b] && !counted[b] {
				counted[b] = true
				n += size
			}
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
