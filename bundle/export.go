package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
	"github.com/bakeryhq/bakery/machineimage"
	"github.com/bakeryhq/bakery/policies"
	"github.com/bakeryhq/bakery/receipt"
	"github.com/bakeryhq/bakery/revoke"
)

// ExportOptions say what to export and how.
type ExportOptions struct {
	Config *config.Config
	Target string
	Env    string
	// Keys verify the digest before export; their public halves go into
	// the bundle (for the reader's information: a verifier trusts its own).
	Keys []attest.TrustedKey
	// Signer signs the bundle manifest.
	Signer signature.Signer
	// Disk, for a machine image, is a disk artifact file its record names
	// (by digest), carried in the bundle too.
	Disk    string
	Version string
	// Progress, when set, is told the bytes written so far.
	Progress func(written int64)
}

// ExportResult says what Export wrote.
type ExportResult struct {
	Target      string   `json:"target"`
	Environment string   `json:"environment"`
	Digest      string   `json:"digest"`
	Kind        string   `json:"kind"`
	Objects     []Object `json:"objects"`
	Files       []File   `json:"files"`
	// Blobs and Bytes count the unique blobs written (the bundle manifest
	// included); each is written once.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

// PolicyData is the policy-data file: the config's policy section and the
// environments' policy settings, in promotion order.
type PolicyData struct {
	Policy       config.Policy       `json:"policy"`
	Environments []EnvironmentPolicy `json:"environments"`
}

// EnvironmentPolicy is one environment's policy settings.
type EnvironmentPolicy struct {
	Name         string   `json:"name"`
	Policies     []string `json:"policies"`
	AcceptDirect bool     `json:"acceptDirect,omitempty"`
	MaxAgeDays   int      `json:"maxAgeDays,omitempty"`
}

// Export verifies what opts.Env runs for opts.Target (signatures,
// attestations and a receipt for the environment) and writes its bundle to
// w. Nothing unverified is exported.
func Export(ctx context.Context, w io.Writer, opts ExportOptions) (*ExportResult, error) {
	if opts.Signer == nil {
		return nil, failure.New(failure.Config, "signing.key", errors.New("a bundle's manifest must be signed"), "configure signing.key (bakery keys generate makes one)")
	}
	ctx = withBlobCache(ctx) // verification, then writing, reads each blob once
	env, _, err := opts.Config.LookupEnvironment(opts.Env)
	if err != nil {
		return nil, err
	}
	if _, err := opts.Config.LookupTarget(opts.Target); err != nil {
		return nil, err
	}
	tag, err := env.Locate(opts.Target)
	if err != nil {
		return nil, err
	}
	ref, err := registry.Resolve(ctx, tag)
	if err != nil {
		return nil, err
	}
	rep, err := attest.Trusting(opts.Keys).Verify(ctx, ref)
	if err != nil {
		return nil, err
	}
	bind := receipt.Bind(opts.Config, opts.Target)
	if !receipt.Has(rep, bind, env.Name) {
		return nil, failure.New(failure.Verify, ref.String(), fmt.Errorf("no verified receipt for %s in %s", opts.Target, env.Name), "promote it there first")
	}
	revs, err := revoke.Load(ctx, opts.Config, attest.Trusting(opts.Keys))
	if err != nil {
		return nil, err
	}
	e, revoked, err := revoke.NewLineage(revs, opts.Config, attest.Trusting(opts.Keys)).Check(ctx, rep, time.Now())
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, failure.New(failure.Verify, ref.String(), errors.New(e.Describe()), "export a digest that is not revoked")
	}
	m := &Manifest{Version: 1, Target: opts.Target, Environment: env.Name, Kind: "container", Digest: ref.DigestStr(),
		ExportedAt: time.Now().UTC(), Exporter: "bakery " + opts.Version, Source: ref.Context().String(), Repositories: bind.Repositories}
	x := &exporter{tw: tar.NewWriter(w), seen: map[string]bool{}, m: m, progress: opts.Progress}
	if err := x.objects(ctx, ref); err != nil {
		return nil, err
	}
	if err := x.revocations(ctx, env); err != nil {
		return nil, err
	}
	if err := x.files(ctx, opts); err != nil {
		return nil, err
	}
	if err := x.finish(opts.Signer); err != nil {
		return nil, err
	}
	return &ExportResult{Target: m.Target, Environment: m.Environment, Digest: m.Digest, Kind: m.Kind,
		Objects: m.Objects, Files: m.Files, Blobs: len(x.seen), Bytes: x.bytes}, nil
}

// exporter writes a layout into a tar, each blob once.
type exporter struct {
	tw       *tar.Writer
	seen     map[string]bool
	m        *Manifest
	bytes    int64
	progress func(int64)
	// revocationsFrom is where the revocation list was read.
	revocationsFrom string
}

// objects writes the image and its cosign signature and attestation
// manifests, each with everything it references.
func (x *exporter) objects(ctx context.Context, ref name.Digest) error {
	desc, err := x.manifest(ctx, ref.Context(), ref.DigestStr(), RoleImage)
	if err != nil {
		return err
	}
	if desc.MediaType == types.OCIManifestSchema1 {
		if img, err := desc.Image(); err == nil {
			if mf, err := img.Manifest(); err == nil && machineimage.Is(mf) {
				x.m.Kind = "machine-image"
			}
		}
	}
	x.m.Objects = append(x.m.Objects, Object{Role: RoleImage, Digest: ref.DigestStr(), MediaType: string(desc.MediaType), Size: desc.Size})
	hex := strings.TrimPrefix(ref.DigestStr(), "sha256:")
	for role, suffix := range map[string]string{RoleSignatures: ".sig", RoleAttestations: ".att"} {
		t := "sha256-" + hex + suffix
		d, err := remote.Head(ref.Context().Tag(t), registry.Options(ctx)...)
		if err != nil {
			if registry.IsNotFound(err) {
				continue
			}
			return registry.Classify(ref.Context().Tag(t).String(), err)
		}
		if _, err := x.manifest(ctx, ref.Context(), d.Digest.String(), role); err != nil {
			return err
		}
		x.m.Objects = append(x.m.Objects, Object{Role: role, Tag: t, Digest: d.Digest.String(), MediaType: string(d.MediaType), Size: d.Size})
	}
	sort.Slice(x.m.Objects, func(i, j int) bool { return x.m.Objects[i].Role < x.m.Objects[j].Role })
	return nil
}

// revocations writes env's signed revocation list, when it has one.
func (x *exporter) revocations(ctx context.Context, env *config.Environment) error {
	loc, err := revoke.Location(env)
	if err != nil {
		return failure.New(failure.Config, "environment "+env.Name, err, "")
	}
	d, err := remote.Head(loc, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil
		}
		return registry.Classify(loc.String(), err)
	}
	if _, err := x.manifest(ctx, loc.Context(), d.Digest.String(), RoleRevocations); err != nil {
		return err
	}
	x.revocationsFrom = loc.String()
	x.m.Objects = append(x.m.Objects, Object{Role: RoleRevocations, Tag: revoke.Tag, Digest: d.Digest.String(), MediaType: string(d.MediaType), Size: d.Size})
	return nil
}

// manifest writes the manifest at repo@digest after everything it
// references: children manifests, config and layers.
func (x *exporter) manifest(ctx context.Context, repo name.Repository, digest, of string) (*remote.Descriptor, error) {
	ref := repo.Digest(digest)
	desc, err := remote.Get(ref, registry.Options(ctx)...)
	if err != nil {
		return nil, registry.Classify(ref.String(), err)
	}
	var mf struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(desc.Manifest, &mf); err != nil {
		return nil, failure.New(failure.Verify, ref.String(), err, "")
	}
	for _, c := range mf.Manifests {
		if _, err := x.manifest(ctx, repo, c.Digest.String(), of); err != nil {
			return nil, err
		}
	}
	blobs := mf.Layers
	if mf.Config != nil {
		blobs = append([]v1.Descriptor{*mf.Config}, blobs...)
	}
	for i, b := range blobs {
		if !b.MediaType.IsDistributable() {
			continue
		}
		what := "layer"
		if i == 0 && mf.Config != nil {
			what = "config"
		}
		if err := x.remoteBlob(ctx, repo.Digest(b.Digest.String()), b.Size, Blob{Digest: b.Digest.String(), Size: b.Size, What: what, Of: of}); err != nil {
			return nil, err
		}
	}
	blob := Blob{Digest: digest, Size: int64(len(desc.Manifest)), What: "manifest", MediaType: string(desc.MediaType), Of: of}
	return desc, x.blob(blob, bytes.NewReader(desc.Manifest))
}

// remoteBlob streams one blob from the registry into the tar, unless it is
// already there; go-containerregistry checks its digest as it reads.
func (x *exporter) remoteBlob(ctx context.Context, ref name.Digest, size int64, b Blob) error {
	if x.seen[b.Digest] {
		return nil
	}
	l, err := remote.Layer(ref, registry.Options(ctx)...)
	if err != nil {
		return registry.Classify(ref.String(), err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return registry.Classify(ref.String(), err)
	}
	defer rc.Close()
	b.Size = size
	return x.blob(b, rc)
}

// blob writes blobs/sha256/<hex> once and lists it in the manifest.
func (x *exporter) blob(b Blob, r io.Reader) error {
	if x.seen[b.Digest] {
		return nil
	}
	x.seen[b.Digest] = true
	hdr := &tar.Header{Name: "blobs/sha256/" + strings.TrimPrefix(b.Digest, "sha256:"), Mode: 0o644, Size: b.Size, Typeflag: tar.TypeReg}
	if err := x.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(x.tw, r)
	if err != nil {
		return registry.Classify(b.describe(), err)
	}
	if n != b.Size {
		return failure.New(failure.Verify, b.describe(), fmt.Errorf("%d bytes, its descriptor says %d", n, b.Size), "")
	}
	x.bytes += n
	if x.progress != nil {
		x.progress(x.bytes)
	}
	if b.What != RoleManifest || b.Of != RoleManifest {
		x.m.Blobs = append(x.m.Blobs, b)
	}
	return nil
}

// file writes one file as a blob and lists it.
func (x *exporter) file(role, name string, body []byte, keyID string) error {
	d := digestOf(body)
	x.m.Files = append(x.m.Files, File{Role: role, Name: name, Digest: d, Size: int64(len(body)), KeyID: keyID})
	return x.blob(Blob{Digest: d, Size: int64(len(body)), What: role, Of: name}, bytes.NewReader(body))
}

// files writes the public keys, the policies, the policy data and the disk.
func (x *exporter) files(ctx context.Context, opts ExportOptions) error {
	for _, k := range opts.Keys {
		pub, err := k.Verifier.PublicKey()
		if err != nil {
			return err
		}
		pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return err
		}
		if err := x.file(RoleKey, "keys/"+k.ID+".pub", pem, k.ID); err != nil {
			return err
		}
	}
	modules, err := policies.Modules(opts.Config.Policy.Dirs)
	if err != nil {
		return err
	}
	engine, err := policies.CompileModules(ctx, modules)
	if err != nil {
		return err
	}
	x.m.PolicyDigest = engine.Digest()
	names := make([]string, 0, len(modules))
	for n := range modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := x.file(RolePolicy, n, []byte(modules[n]), ""); err != nil {
			return err
		}
	}
	data := PolicyData{Policy: opts.Config.Policy}
	data.Policy.Dirs = nil
	for _, e := range opts.Config.Environments {
		data.Environments = append(data.Environments, EnvironmentPolicy{Name: e.Name, Policies: e.Policies, AcceptDirect: e.AcceptDirect, MaxAgeDays: e.MaxAgeDays})
	}
	body, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return err
	}
	if err := x.file(RolePolicyData, "policy-data.json", body, ""); err != nil {
		return err
	}
	if opts.Disk == "" {
		return nil
	}
	return x.disk(ctx, opts.Disk)
}

// disk carries a machine image's disk artifact, which its record must name.
func (x *exporter) disk(ctx context.Context, path string) error {
	if x.m.Kind != "machine-image" {
		return failure.New(failure.Config, "--disk "+path, errors.New("only a machine image has a disk artifact"), "drop --disk")
	}
	src, _ := name.NewDigest(x.m.Source + "@" + x.m.Digest)
	rec, err := machineimage.Read(ctx, src)
	if err != nil {
		return err
	}
	f, err := machineimage.FileOf(path)
	if err != nil {
		return failure.New(failure.Config, "--disk "+path, err, "")
	}
	named := false
	for _, rf := range rec.Files {
		named = named || rf.Digest == f.Digest
	}
	if !named {
		return failure.New(failure.Verify, "--disk "+path, fmt.Errorf("its digest %s is not among the files the record names", f.Digest), "pass the file this machine image was built as")
	}
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	x.m.Files = append(x.m.Files, File{Role: RoleDisk, Name: f.Name, Digest: f.Digest, Size: f.Size})
	return x.blob(Blob{Digest: f.Digest, Size: f.Size, What: RoleDisk, Of: f.Name}, fh)
}

// finish writes the signed manifest, index.json and oci-layout.
func (x *exporter) finish(signer signature.Signer) error {
	body, err := json.MarshalIndent(x.m, "", "  ")
	if err != nil {
		return err
	}
	sig, err := signManifest(signer, body)
	if err != nil {
		return err
	}
	md := digestOf(body)
	if err := x.blob(Blob{Digest: md, Size: int64(len(body)), What: RoleManifest, Of: RoleManifest}, bytes.NewReader(body)); err != nil {
		return err
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	h, _ := v1.NewHash(md)
	idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: MediaType, Digest: h, Size: int64(len(body)),
		Annotations: map[string]string{AnnotationRole: RoleManifest, AnnotationSignature: sig}})
	for _, o := range x.m.Objects {
		h, _ := v1.NewHash(o.Digest)
		ann := map[string]string{AnnotationRole: o.Role, annotationRefName: x.m.Source + "@" + o.Digest}
		switch {
		case o.Role == RoleRevocations:
			ann[annotationRefName] = x.revocationsFrom
		case o.Tag != "":
			ann[annotationRefName] = x.m.Source + ":" + o.Tag
		}
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.MediaType(o.MediaType), Digest: h, Size: o.Size, Annotations: ann})
	}
	ib, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{"index.json", ib}, {"oci-layout", []byte(`{"imageLayoutVersion": "1.0.0"}`)}} {
		if err := x.tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := x.tw.Write(f.body); err != nil {
			return err
		}
	}
	return x.tw.Close()
}
