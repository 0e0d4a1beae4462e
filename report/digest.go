package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/inventory"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/promote"
	"github.com/bakeryhq/bakery/receipt"
)

// digest gathers the page of one target's digest, which cells (in promotion
// order) run. It is verified in the last of them: a promotion copies every
// earlier receipt along, so that copy holds the whole chain.
func (g *gatherer) digest(ctx context.Context, cells []*Cell) (Digest, error) {
	last := cells[len(cells)-1]
	d := Digest{Target: last.Target, Digest: last.Digest, Reference: last.Reference, Kind: last.Kind,
		Page: pageName(last.Target, last.Digest), Revoked: last.Revoked, Platforms: []Platform{},
		Signatures: []Signature{}, Attestations: []Attestation{}, Receipts: []Receipt{}, Deltas: []Delta{},
		Suites: promote.Suites(g.opts.Config, last.Target), Tests: []promote.TestEvidence{}}
	if d.Suites == nil {
		d.Suites = []string{}
	}
	for _, c := range cells {
		d.Environments = append(d.Environments, c.Environment)
	}
	ref, err := name.NewDigest(last.Reference)
	if err != nil {
		return d, failure.New(failure.Internal, last.Reference, err, "")
	}
	rep, verr := g.opts.Verifier.Verify(ctx, ref)
	if rep == nil {
		if failure.ClassOf(verr) == failure.Unavailable {
			return d, verr
		}
		d.Problems = append(d.Problems, cause(verr))
		return d, nil
	}
	// The one verdict (promote.Assess, as status computed it for the cell):
	// a revoked digest, or one revoked through its lineage, is not verified.
	d.Verified = verr == nil && last.Verified
	if verr != nil {
		d.Problems = append(d.Problems, problems(rep, verr)...)
	} else if last.Status.Problem != "" {
		d.Problems = append(d.Problems, last.Status.Problem)
	}
	if err := g.describe(ctx, ref, &d); err != nil {
		return d, err
	}
	d.Signatures, d.Attestations = signatures(rep), attestations(rep, d.Platforms)
	d.Tests = promote.Tests(rep, d.Target)
	d.TestSummary = promote.TestSummary(d.Tests, d.Suites)
	d.Vulnerabilities = g.vulnerabilitiesOf(rep, d.Target)
	if d.Provenance, err = provenance(rep); err != nil {
		d.Problems = append(d.Problems, err.Error())
	}
	if err := sboms(rep, d.Platforms); err != nil {
		d.Problems = append(d.Problems, err.Error())
	}
	if d.Receipts, err = g.receipts(ctx, ref, rep, d.Target); err != nil {
		return d, err
	}
	for _, c := range cells {
		if c.Previous == "" {
			continue
		}
		delta, err := g.delta(ctx, c, rep, d.Vulnerabilities)
		if err != nil {
			return d, err
		}
		d.Deltas = append(d.Deltas, delta)
	}
	return d, nil
}

// problems are a failed verification's reasons, one each.
func problems(rep *attest.Report, verr error) []string {
	if len(rep.Problems) > 0 {
		return rep.Problems
	}
	return []string{cause(verr)}
}

// describe reads the digest's platforms and sizes: every platform image of
// an index (BuildKit's attestation manifests left out), or the image itself.
func (g *gatherer) describe(ctx context.Context, ref name.Digest, d *Digest) error {
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		err = registry.Classify(ref.String(), err)
		if failure.ClassOf(err) == failure.Unavailable {
			return err
		}
		d.Problems = append(d.Problems, cause(err))
		return nil
	}
	seen := map[v1.Hash]bool{}
	d.Size = desc.Size
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return registry.Classify(ref.String(), err)
		}
		p, err := platformOf(img, ref.DigestStr(), seen)
		d.Platforms = append(d.Platforms, p)
		d.Size = p.Size
		return err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return registry.Classify(ref.String(), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return registry.Classify(ref.String(), err)
	}
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || registry.IsAttestationManifest(m) {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return registry.Classify(ref.String(), err)
		}
		p, err := platformOf(img, m.Digest.String(), seen)
		if err != nil {
			return err
		}
		if m.Platform != nil {
			p.Platform = m.Platform.String()
		}
		d.Platforms = append(d.Platforms, p)
		d.Size += p.Size
	}
	return nil
}

// platformOf describes one platform image: its platform (a machine-image
// record's own) and the bytes of its manifest, config and layers. Layers
// already in seen count toward the platform but not again toward the total:
// the platform's Size is its own, the caller adds only what is new.
func platformOf(img v1.Image, digest string, seen map[v1.Hash]bool) (Platform, error) {
	p := Platform{Digest: digest, Packages: []inventory.Package{}, Licenses: []Count{}}
	m, err := img.Manifest()
	if err != nil {
		return p, registry.Classify(digest, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return p, registry.Classify(digest, err)
	}
	p.Size = int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		if !seen[l.Digest] {
			seen[l.Digest] = true
			p.Size += l.Size
		}
	}
	if rec, err := machineimage.FromImage(img); err == nil {
		p.Platform = rec.Platform
		return p, nil
	} else if !errors.Is(err, machineimage.ErrNotRecord) {
		return p, registry.Classify(digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return p, registry.Classify(digest, err)
	}
	if p.Platform, err = builders.PlatformOf(cf); err != nil {
		return p, failure.New(failure.Verify, digest, err, "")
	}
	return p, nil
}

// signatures are the digest's verified signatures.
func signatures(rep *attest.Report) []Signature {
	out := []Signature{}
	for _, s := range rep.Signatures {
		out = append(out, Signature{KeyID: s.KeyID, SignedAt: s.SignedAt, Verified: true})
	}
	return out
}

// attestations lists the verified attestations, then the ignored ones with
// their reasons, each with the platform its subjects name.
func attestations(rep *attest.Report, plats []Platform) []Attestation {
	out := []Attestation{}
	for _, a := range rep.Attestations {
		out = append(out, Attestation{PredicateType: a.PredicateType, Platform: subjectPlatform(a.Subjects, plats),
			KeyID: a.KeyID, SignedAt: a.SignedAt, Layer: a.Layer.String(), Verified: true})
	}
	for _, a := range rep.Ignored {
		out = append(out, Attestation{PredicateType: a.PredicateType, Layer: a.Layer.String(), Reason: a.Reason})
	}
	return out
}

// subjectPlatform names the platform among subjects ("" when an
// attestation is about the digest as a whole, as provenance is).
func subjectPlatform(subjects []string, plats []Platform) string {
	if len(plats) < 2 {
		return ""
	}
	for _, p := range plats {
		if slices.ContainsFunc(subjects, func(s string) bool { return strings.HasSuffix(s, "@"+p.Digest) }) {
			return p.Platform
		}
	}
	return ""
}

// provenance reads the verified SLSA provenance (nil when there is none);
// one that does not decode, strictly, is an error.
func provenance(rep *attest.Report) (*Provenance, error) {
	p, err := attest.ProvenanceOf(rep)
	if p == nil || err != nil {
		return nil, err
	}
	out := &Provenance{BuilderID: p.RunDetails.Builder.ID, BuilderVersion: p.RunDetails.Builder.Version,
		BuildType: p.BuildDefinition.BuildType, Bases: p.BuildDefinition.ResolvedDependencies}
	if out.Bases == nil {
		out.Bases = []builders.Dependency{}
	}
	if t := p.RunDetails.Metadata.StartedOn; t != nil {
		out.StartedOn = t.UTC().Format("2006-01-02T15:04:05Z")
	}
	if t := p.RunDetails.Metadata.FinishedOn; t != nil {
		out.FinishedOn = t.UTC().Format("2006-01-02T15:04:05Z")
	}
	parameters(p.BuildDefinition.ExternalParameters, out)
	return out, nil
}

// parameters reads the source, build arguments (a machine image's Packer
// variables) and secrets (ids only) from the provenance's external
// parameters.
func parameters(ext builders.Parameters, out *Provenance) {
	if c := ext.Container; c != nil {
		out.Source, out.Args = c.Source, c.Args
		for _, s := range c.Target.Secrets {
			out.Secrets = append(out.Secrets, Secret{ID: s.ID, Source: s.Source})
		}
	}
	if m := ext.MachineImage; m != nil {
		out.Args = m.Variables
	}
}

// sboms fills each platform's packages and license counts from its
// verified SPDX attestation.
func sboms(rep *attest.Report, plats []Platform) error {
	for i := range plats {
		p := &plats[i]
		for _, a := range rep.Attestations {
			if a.PredicateType != attest.PredicateSPDX || !slices.ContainsFunc(a.Subjects, func(s string) bool { return strings.HasSuffix(s, "@"+p.Digest) }) {
				continue
			}
			pkgs, err := inventory.ParseSPDX(a.Predicate)
			if err != nil {
				return fmt.Errorf("the SBOM of %s: %w", p.Platform, err)
			}
			sort.SliceStable(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
			p.SBOM, p.Packages, p.Licenses = true, pkgs, licenseCounts(pkgs)
			break
		}
	}
	return nil
}

// licenseCounts counts packages by license, most first, then by name.
func licenseCounts(pkgs []inventory.Package) []Count {
	n := map[string]int{}
	for _, p := range pkgs {
		for _, l := range licenseIDs(p.Licenses) {
			n[l]++
		}
	}
	out := make([]Count, 0, len(n))
	for l, c := range n {
		out = append(out, Count{Name: l, N: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// licenseIDs splits a package's license expressions ("GPL-2.0-only AND
// (MIT OR Apache-2.0)") into their license ids, once each; "(none)" when
// the SBOM names no license.
func licenseIDs(exprs []string) []string {
	var ids []string
	for _, e := range exprs {
		for _, f := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(e)) {
			if u := strings.ToUpper(f); u != "AND" && u != "OR" && u != "WITH" && !slices.Contains(ids, f) {
				ids = append(ids, f)
			}
		}
	}
	if len(ids) == 0 {
		return []string{"(none)"}
	}
	return ids
}

// receipts is every verified receipt the digest holds for target, oldest
// first: those of rep (the digest verified at ref) and those of its copies
// in the target's repository of every other environment, where the receipts
// of steps taken after the copy at ref was made are (a promotion further on,
// and one from which a rollback has since moved away). A receipt is listed
// once however many copies carry it; each says whether the digest runs in
// its environment now. The repository of an environment that cannot be
// reached is not read (the report names it).
func (g *gatherer) receipts(ctx context.Context, ref name.Digest, rep *attest.Report, target string) ([]Receipt, error) {
	b := receipt.Bind(g.opts.Config, target)
	steps := receipt.Steps(rep, b)
	read := map[string]bool{ref.Context().String(): true}
	for i := range g.opts.Config.Environments {
		env := &g.opts.Config.Environments[i]
		tag, err := env.Locate(target)
		if err != nil || read[tag.Context().String()] || g.down[env.Name] != nil {
			continue
		}
		read[tag.Context().String()] = true
		copyRef := tag.Context().Digest(ref.DigestStr())
		atts, _, err := g.opts.Verifier.Attestations(ctx, copyRef, []string{receipt.PredicateVSA})
		if failure.ClassOf(err) == failure.Unavailable {
			return nil, err
		}
		if err == nil {
			steps = append(steps, receipt.Steps(&attest.Report{Reference: copyRef.String(), Digest: rep.Digest, Attestations: atts}, b)...)
		}
	}
	seen := map[string]bool{}
	steps = slices.DeleteFunc(steps, func(s receipt.Step) bool {
		dup := seen[s.Layer]
		seen[s.Layer] = true
		return dup
	})
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].TimeVerified.Before(steps[j].TimeVerified) })
	return receiptsOf(steps, g.runs[target+"@"+ref.DigestStr()]), nil
}

// receiptsOf renders steps (oldest first) for the page; runs are the
// environments that run the digest now.
func receiptsOf(steps []receipt.Step, runs []string) []Receipt {
	out := []Receipt{}
	for _, s := range steps {
		r := Receipt{Environment: s.Bakery.Environment, Current: slices.Contains(runs, s.Bakery.Environment),
			Action: s.Bakery.Action, From: s.Bakery.From,
			Time: s.TimeVerified.UTC().Format("2006-01-02T15:04:05Z"), KeyID: s.KeyID, Result: s.VerificationResult,
			Policies: s.Bakery.Policies, AMIs: s.Bakery.AMIs}
		if r.Policies == nil {
			r.Policies = []string{}
		}
		for alg, hex := range s.Policy.Digest {
			r.PolicyDigest = alg + ":" + hex
		}
		out = append(out, r)
	}
	return out
}

// delta compares the digest's packages and known vulnerabilities with
// those of the digest c's environment ran before, verified once in the
// environment's repository; cur is the digest's own vulnerability evidence.
func (g *gatherer) delta(ctx context.Context, c *Cell, rep *attest.Report, cur *Vulnerabilities) (Delta, error) {
	out := Delta{Environment: c.Environment}
	ref, err := name.NewDigest(c.Reference)
	if err != nil {
		return out, failure.New(failure.Internal, c.Reference, err, "")
	}
	prev := ref.Context().Digest(c.Previous)
	prevRep, err := g.opts.Verifier.Verify(ctx, prev)
	if err != nil {
		if failure.ClassOf(err) == failure.Unavailable {
			return out, err
		}
		out.Problem = fmt.Sprintf("the previous digest %s does not verify: %s", c.Previous, cause(err))
		return out, nil
	}
	before, _ := g.sup.Evidence(prevRep, c.Target, g.opts.Now)
	vd := CompareVulns(c.Previous, before, cur.Scans)
	out.Vulnerabilities = &vd
	pkgs, err := promote.Packages(rep)
	if err != nil {
		out.Problem = cause(err)
		return out, nil
	}
	old, err := promote.Packages(prevRep)
	if err != nil {
		out.Problem = cause(err)
		return out, nil
	}
	d := policies.Diff(c.Previous, old, pkgs)
	out.Delta = &d
	return out, nil
}

// pageName is the file name of a digest's page: the target (letters,
// digits, '.', '_' and '-' kept) and the digest's first 16 hex digits.
func pageName(target, digest string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, target)
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 16 {
		hex = hex[:16]
	}
	return "digest-" + safe + "-" + hex + ".html"
}
