package gc

import (
	"context"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// Apply deletes what plan says, repository by repository: first it checks
// that every registry deletes at all (nothing is deleted otherwise), then,
// in each repository, it writes the run to the gc log as started, deletes
// the manifests in the plan's order (attachments first), deregisters the
// AMIs and deletes their snapshots, and writes the run as done. A run that
// is killed is finished by the next: Plan reads the started run's
// deletions back from the log.
func (c *collector) Apply(ctx context.Context, plan *Plan) (*Result, error) {
	res := &Result{Plan: plan}
	var todo []*Repository
	for _, r := range plan.Repositories {
		if len(r.Delete) > 0 || len(r.AMIs) > 0 || len(r.Resumes) > 0 {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return res, nil
	}
	checked := map[string]bool{}
	for _, r := range todo {
		if reg := r.scan.repo.RegistryStr(); !checked[reg] {
			checked[reg] = true
			if err := registry.CheckDelete(ctx, r.scan.repo); err != nil {
				return res, err
			}
		}
	}
	// Repositories are independent: their runs go at once, each in order.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.parallel()/2, 1))
	for _, r := range todo {
		g.Go(func() error { return c.applyRepo(gctx, r, res) })
	}
	return res, g.Wait()
}

// applyRepo runs plan r in its repository, journalled in its gc log.
func (c *collector) applyRepo(ctx context.Context, r *Repository, res *Result) error {
	signer, err := c.opts.Signer.Get(ctx)
	if err != nil {
		return err
	}
	keyID, err := attest.KeyID(signer)
	if err != nil {
		return err
	}
	by := revoke.By(receipt.ActorOf(ctx), keyID)
	log := r.scan.log
	log.Runs = append(log.Runs, record.Run{Target: r.Target, Environment: r.Environment, Repository: r.Repository,
		Time: res.Plan.Time, State: record.Started, By: by, Rules: r.Rules, Deleted: r.Delete, AMIs: r.AMIs})
	run := &log.Runs[len(log.Runs)-1]
	if err := c.writeLog(ctx, r, signer, log); err != nil {
		return err
	}
	c.opts.Progress("%s: deleting %d manifests, %d AMIs", r.Repository, len(r.Delete), len(r.AMIs))
	tags := tagCheck{}
	for _, d := range r.Delete {
		if err := tags.deleteManifest(ctx, r.scan.repo, d); err != nil {
			return err
		}
		res.mu.Lock()
		res.Deleted++
		res.mu.Unlock()
	}
	if err := c.removeAMIs(ctx, r, run); err != nil {
		return err
	}
	res.mu.Lock()
	res.Deregistered += len(r.AMIs)
	res.mu.Unlock()
	finished := c.opts.Now().UTC().Format(revoke.TimeFormat)
	for i := range log.Runs {
		if log.Runs[i].State == record.Started {
			// What an earlier, killed run meant to delete but this one
			// keeps was never deleted: it leaves that run's record.
			log.Runs[i].Deleted = slices.DeleteFunc(log.Runs[i].Deleted, func(d record.Deletion) bool { return r.inUse[d.Digest] })
			log.Runs[i].State, log.Runs[i].Finished = record.Done, finished
		}
	}
	return c.writeLog(ctx, r, signer, log)
}

// writeLog writes r's log and deletes the version it replaces: an old
// version left untagged would hold its blobs through the registry's own
// garbage collection.
func (c *collector) writeLog(ctx context.Context, r *Repository, signer signature.Signer, log *record.Log) error {
	d, err := record.Write(ctx, r.scan.repo, signer, log)
	if err != nil {
		return err
	}
	old := r.scan.logDigest
	r.scan.logDigest = d
	if old == "" || old == d {
		return nil
	}
	for t, td := range r.scan.tags {
		if td == old && t != record.Tag {
			return nil // another tag names it too: deleting it would drop that tag
		}
	}
	if r.inUse[old] {
		return nil
	}
	return registry.Delete(ctx, r.scan.repo.Digest(old))
}

// removeAMIs deregisters r's AMIs and deletes their snapshots, noting the
// snapshots in run.
func (c *collector) removeAMIs(ctx context.Context, r *Repository, run *record.Run) error {
	if len(r.AMIs) == 0 {
		return nil
	}
	remover, err := c.opts.Clouds(ctx, r.scan.env.AWS)
	if err != nil {
		return err
	}
	for i, a := range r.AMIs {
		removed, err := remover.Remove(ctx, map[string]string{a.Region: a.ID})
		if err != nil {
			return err
		}
		for _, rm := range removed {
			run.AMIs[i].Snapshots = append(run.AMIs[i].Snapshots, rm.Snapshots...)
		}
	}
	return nil
}

// tagCheck remembers whether a repository's registry dropped the tags of
// the first manifest gc deleted there: then it drops them all, and no tag
// is looked up again.
type tagCheck struct{ drops bool }

// deleteManifest deletes d's manifest, then each of its tags that still
// points at it: the distribution registry drops the tags of a manifest it
// deletes, registries that keep them (go-containerregistry's) delete a tag
// by name.
func (tc *tagCheck) deleteManifest(ctx context.Context, repo name.Repository, d record.Deletion) error {
	if err := registry.Delete(ctx, repo.Digest(d.Digest)); err != nil {
		return err
	}
	if tc.drops {
		return nil
	}
	for _, t := range d.Tags {
		desc, err := remote.Head(repo.Tag(t), registry.Options(ctx)...)
		switch {
		case registry.IsNotFound(err):
			tc.drops = true // it pointed at the manifest when planned
			continue
		case err != nil:
			return registry.Classify(repo.Tag(t).String(), err)
		case desc.Digest.String() != d.Digest:
			continue // moved to another manifest since the plan: not this run's
		}
		if err := registry.DeleteTag(ctx, repo.Tag(t)); err != nil {
			return err
		}
	}
	return nil
}
