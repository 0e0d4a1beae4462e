package gc

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/gc/record"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
)

// attachmentTag is a tag cosign or the OCI referrers fallback gives what
// it attaches to a digest: sha256-HEX.sig, .att, .sbom, or sha256-HEX.
var attachmentTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?$`)

// manifest is what gc knows of one manifest in a repository.
type manifest struct {
	digest    string
	mediaType string
	size      int64
	// blobs are the config and layers of an image (digest → size);
	// children the manifests of an index.
	blobs    map[string]int64
	children []string
	// machineImage: the manifest is a machine-image record.
	machineImage bool
}

// subject is a digest that attachments, tags or a log name in a
// repository: a candidate for deletion unless a rule keeps it.
type subject struct {
	manifest
	// receipts are its verified receipts for the target in this
	// environment, oldest first; deps the digests its verified provenance
	// names; built when that provenance says it finished.
	receipts []policies.Receipt
	deps     []string
	built    time.Time
	// amis are the machine image's AMIs in this environment (region → id).
	amis map[string]string
	// pending: a run that never finished meant to delete it.
	pending string
	// unverified: attestations are attached, and none verifies.
	unverified bool
	// unreadable says why its attestations could not be read.
	unreadable string
	// foreign is the repository a verified receipt of the target in this
	// environment names when none names this one: the registry is read by
	// another address than the one bakery signed for.
	foreign string
}

// foreignReceipt is the resource a verified receipt for target in env
// names, when there is one (receipt.Read kept none: it names another
// repository).
func foreignReceipt(atts []attest.AttestationInfo, target, env string) string {
	for _, a := range atts {
		if v, ok := receipt.Of(a); ok && v.Bakery.Target == target && v.Bakery.Environment == env {
			return v.ResourceURI
		}
	}
	return ""
}

// repoScan is one target's repository in one environment, as read.
type repoScan struct {
	target string
	env    *config.Environment
	envIdx int
	repo   name.Repository
	envTag string
	// current is the digest the environment's tag points at ("" if none).
	current string
	// tags maps every tag to its manifest's digest.
	tags map[string]string
	// attached maps a subject digest to the tags of its attachments.
	attached  map[string][]string
	manifests map[string]*manifest
	subjects  map[string]*subject
	log       *record.Log
	logDigest string
	// ignoredLog says why a log that was there counts for nothing.
	ignoredLog string
}

// scan reads repo: its tags, every tagged manifest (and an index's
// platform manifests), each subject's verified receipts and provenance,
// and its gc log.
func (c *collector) scan(ctx context.Context, target string, envIdx int) (*repoScan, error) {
	env := &c.opts.Config.Environments[envIdx]
	tag, err := env.Locate(target)
	if err != nil {
		return nil, err
	}
	s := &repoScan{target: target, env: env, envIdx: envIdx, repo: tag.Context(), envTag: tag.TagStr(),
		tags: map[string]string{}, attached: map[string][]string{}, manifests: map[string]*manifest{}, subjects: map[string]*subject{}}
	names, err := remote.List(s.repo, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			s.log = &record.Log{}
			return s, nil
		}
		return nil, registry.Classify(s.repo.String(), err)
	}
	if err := s.readTags(ctx, c, names); err != nil {
		return nil, err
	}
	if s.log, err = record.Read(ctx, s.repo, c.opts.Verifier.Keys()); err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		s.ignoredLog = err.Error()
	}
	if s.ignoredLog != "" {
		s.logDigest = "" // not a log gc wrote: never deleted as its old version
	}
	for _, run := range s.log.Pending() {
		for _, d := range run.Deleted {
			if s.subjects[d.Digest] == nil && s.manifests[d.Digest] == nil {
				s.subjects[d.Digest] = &subject{manifest: manifest{digest: d.Digest}, pending: run.Time}
			}
		}
	}
	return s, s.readSubjects(ctx, c)
}

// readTags resolves every tag to its manifest and sorts them: the
// environment's tag, attachments (by subject), the log, and the rest
// (whose digests are subjects too).
func (s *repoScan) readTags(ctx context.Context, c *collector, names []string) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.parallel())
	for _, t := range names {
		g.Go(func() error {
			m, err := c.get(gctx, s.repo.Tag(t))
			if err != nil || m == nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			s.tags[t], s.manifests[m.digest] = m.digest, m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for t, d := range s.tags {
		switch sub := attachmentTag.FindStringSubmatch(t); {
		case t == record.Tag:
			s.logDigest = d
		case sub != nil:
			s.attached["sha256:"+sub[1]] = append(s.attached["sha256:"+sub[1]], t)
		default:
			if t == s.envTag {
				s.current = d
			}
			s.subjects[d] = &subject{manifest: *s.manifests[d]}
		}
	}
	for d := range s.attached {
		if s.subjects[d] == nil {
			s.subjects[d] = &subject{manifest: manifest{digest: d}}
		}
	}
	return nil
}

// readSubjects reads each subject's manifest (whether it is still there)
// and evidence, and the platform manifests of indexes.
func (s *repoScan) readSubjects(ctx context.Context, c *collector) error {
	bind := receipt.Bind(c.opts.Config, s.target)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.parallel())
	for d, sub := range s.subjects {
		g.Go(func() error {
			if sub.mediaType == "" {
				m, err := c.get(gctx, s.repo.Digest(d))
				if err != nil || m == nil {
					return err // gone: what is attached to it is orphaned
				}
				sub.manifest = *m
			}
			for _, child := range sub.children {
				m, err := c.get(gctx, s.repo.Digest(child))
				if err != nil {
					return err
				}
				if m != nil {
					mu.Lock()
					s.manifests[child] = m
					mu.Unlock()
				}
			}
			mu.Lock()
			s.manifests[d] = &sub.manifest
			mu.Unlock()
			return s.readEvidence(gctx, c, bind, sub)
		})
	}
	return g.Wait()
}

// readEvidence reads sub's verified receipts, provenance and AMIs.
func (s *repoScan) readEvidence(ctx context.Context, c *collector, bind receipt.Binding, sub *subject) error {
	ref := s.repo.Digest(sub.digest)
	atts, ignored, err := c.opts.Verifier.Attestations(ctx, ref, []string{receipt.PredicateVSA, attest.PredicateSLSAv1})
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return err
		}
		// Unreadable (a blob gone, a 401 mid-plan, a malformed .att) is
		// not "no evidence": the digest is kept, not judged.
		sub.unreadable = err.Error()
		return nil
	}
	sub.unverified = len(atts) == 0 && len(ignored) > 0
	h, err := v1.NewHash(sub.digest)
	if err != nil {
		return err
	}
	rep := &attest.Report{Reference: ref.String(), Digest: h, Attestations: atts}
	for _, r := range receipt.Read(rep, bind) {
		if r.Environment == s.env.Name {
			sub.receipts = append(sub.receipts, r)
		}
	}
	if len(sub.receipts) == 0 {
		sub.foreign = foreignReceipt(atts, s.target, s.env.Name)
	}
	for _, a := range atts {
		if a.PredicateType != attest.PredicateSLSAv1 {
			continue
		}
		var p provenance
		if json.Unmarshal(a.Predicate, &p) == nil {
			for _, dep := range p.BuildDefinition.ResolvedDependencies {
				if h := dep.Digest["sha256"]; h != "" {
					sub.deps = append(sub.deps, "sha256:"+h)
				}
			}
			if t := p.RunDetails.Metadata.FinishedOn; t.After(sub.built) {
				sub.built = t
			}
		}
	}
	if sub.machineImage {
		sub.amis = receipt.AMIs(rep, bind, s.env.Name)
		if len(sub.amis) == 0 && s.envIdx == 0 {
			if rec, err := machineimage.Read(ctx, ref); err == nil {
				sub.amis = rec.AMIs // the AMIs packer built, recorded by the build
			}
		}
	}
	return nil
}

// provenance is what gc reads of a verified SLSA provenance.
type provenance struct {
	BuildDefinition struct {
		ResolvedDependencies []struct {
			Digest map[string]string `json:"digest"`
		} `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Metadata struct {
			FinishedOn time.Time `json:"finishedOn"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// get reads the manifest ref names; nil when it is not there.
func (c *collector) get(ctx context.Context, ref name.Reference) (*manifest, error) {
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, nil
		}
		return nil, registry.Classify(ref.String(), err)
	}
	m := &manifest{digest: desc.Digest.String(), mediaType: string(desc.MediaType), size: desc.Size, blobs: map[string]int64{}}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, failure.New(failure.Verify, ref.String(), err, "")
		}
		for _, d := range idx.Manifests {
			m.children = append(m.children, d.Digest.String())
		}
		return m, nil
	}
	mf, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return m, nil // not an image manifest: deleted whole, no blobs counted
	}
	m.machineImage = machineimage.Is(mf)
	m.blobs[mf.Config.Digest.String()] = mf.Config.Size
	for _, l := range mf.Layers {
		m.blobs[l.Digest.String()] = l.Size
	}
	return m, nil
}
