// Package registry holds the few registry operations every layer of bakery
// shares: the remote options, checking a registry answers, resolving a tag to
// a digest (once), summarizing an image by digest, pointing a tag at a digest,
// and classifying registry errors. Everything after Resolve takes digests.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Options returns the remote options bakery uses for every registry call.
func Options(ctx context.Context) []remote.Option {
	return append(remoteOptions(ctx),
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithUserAgent("bakery"),
	)
}

// OCIOptions are Options for cosign's oci/remote.
func OCIOptions(ctx context.Context) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(Options(ctx)...)}
}

// Ping checks that the registry answers its /v2/ endpoint (200 or 401 both
// mean it is up). It returns a failure.Unavailable error otherwise.
func Ping(ctx context.Context, reg name.Registry) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transportFor(SettingsOf(ctx))}).Do(req)
	if err != nil {
		return failure.New(failure.Unavailable, "registry "+reg.RegistryStr(), err,
			"start it with `make up`, or fix the environment's repository")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return failure.New(failure.Unavailable, "registry "+reg.RegistryStr(),
			fmt.Errorf("GET %s answered %s", u.String(), resp.Status), "check that this is a registry (distribution API v2)")
	}
	return nil
}

// Summary describes a pushed image or index.
type Summary struct {
	MediaType types.MediaType
	// Platforms lists os/arch[/variant] of each image, in index order.
	Platforms []string
	// Size is the total bytes of the manifest(s), configs and distinct layers.
	Size int64
}

// Summarize sums what an already fetched manifest references.
func Summarize(ref name.Digest, desc *remote.Descriptor) (Summary, error) {
	s := Summary{MediaType: desc.MediaType, Size: desc.Size}
	seen := map[v1.Hash]bool{}
	addImage := func(img v1.Image, platform *v1.Platform) error {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		s.Size += m.Config.Size
		for _, l := range m.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				s.Size += l.Size
			}
		}
		if platform == nil {
			cf, err := img.ConfigFile()
			if err != nil {
				return err
			}
			platform = cf.Platform()
		}
		if platform != nil {
			s.Platforms = append(s.Platforms, platform.String())
		}
		return nil
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Summary{}, Classify(ref.String(), err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return Summary{}, Classify(ref.String(), err)
		}
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() || IsAttestationManifest(m) {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return Summary{}, Classify(ref.String(), err)
			}
			s.Size += m.Size
			if err := addImage(img, m.Platform); err != nil {
				return Summary{}, Classify(ref.String(), err)
			}
		}
		return s, nil
	}
	img, err := desc.Image()
	if err != nil {
		return Summary{}, Classify(ref.String(), err)
	}
	if err := addImage(img, nil); err != nil {
		return Summary{}, Classify(ref.String(), err)
	}
	return s, nil
}

// IsAttestationManifest reports BuildKit's attestation manifests, which sit in
// an image index next to the platform images, with platform unknown/unknown
// (annotations from github.com/moby/buildkit/util/attestation).
func IsAttestationManifest(d v1.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest"
}

// ErrNotFound is the cause of Resolve's error when nothing is at the reference.
var ErrNotFound = errors.New("nothing is there")

// Resolve turns ref into a digest with one registry round trip (a HEAD); a
// digest reference is returned as it is, after checking it exists. Nothing
// at ref is a failure.Config error wrapping ErrNotFound; callers that know a
// better hint wrap it again.
func Resolve(ctx context.Context, ref name.Reference) (name.Digest, error) {
	desc, err := remote.Head(ref, Options(ctx)...)
	if err != nil {
		if IsNotFound(err) {
			return name.Digest{}, failure.New(failure.Config, ref.String(), ErrNotFound, "check the reference")
		}
		return name.Digest{}, Classify(ref.String(), err)
	}
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// IsNotFound reports whether a registry answered that nothing is there.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode == http.StatusNotFound
	}
	return strings.Contains(err.Error(), "MANIFEST_UNKNOWN")
}

// Tag points tag at the manifest ref already names, without changing it.
func Tag(ctx context.Context, ref name.Digest, tag name.Tag) error {
	opts := Options(ctx)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return Classify(ref.String(), err)
	}
	if err := remote.Tag(tag, desc, opts...); err != nil {
		return Classify(tag.String(), err)
	}
	return nil
}

// Classify classifies a registry's answer by what it is: no answer, a
// timeout, 408, 429, 5xx or an upload session still lost after its restarts
// is failure.Unavailable (exit 6); content that does not hash to the digest
// it was asked by, or is not the size its descriptor says, is failure.Verify
// (exit 4); 401, 403 and any other 4xx answer are failure.Config; an error
// that is no registry's answer is wrapped with the subject.
func Classify(subject string, err error) error {
	if err == nil {
		return nil
	}
	if c := failure.ClassOf(err); c != failure.Internal {
		return err
	}
	switch status := statusOf(err); {
	case IsUnavailable(err) || isUploadLost(err):
		return failure.New(failure.Unavailable, subject, err, "check that the registry is running and reachable, then retry")
	case IsDigestMismatch(err) || errors.Is(err, ErrWrongSize):
		return failure.New(failure.Verify, subject, err, "the registry served content that is not what was asked for by digest: do not deploy; check the registry")
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return failure.New(failure.Config, subject, err, "check the registry credentials (docker login)")
	case errors.Is(err, ErrTooLarge):
		return failure.New(failure.Verify, subject, err, "a registry or someone with push rights is serving oversized content")
	case status >= 400:
		// Any other answer: the registry refused the request as asked.
		return failure.New(failure.Config, subject, err, "the registry refused the request: check the repository name, and that the registry supports the OCI distribution API")
	}
	return fmt.Errorf("%s: %w", subject, err)
}

func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

// ErrWrongSize is the cause of a blob that is longer or shorter than its
// descriptor says.
var ErrWrongSize = errors.New("not the size its descriptor says")

// IsDigestMismatch reports go-containerregistry's errors for a manifest or
// blob whose bytes do not hash to the digest it was fetched by. The library
// has no typed error for them, so their messages are matched here, and
// nowhere else.
func IsDigestMismatch(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "does not match requested digest") || strings.Contains(msg, "error verifying sha256 checksum") ||
		strings.Contains(msg, "error verifying size")
}

// IsUnavailable reports whether err means the other end could not be reached,
// went away, timed out, or answered that it cannot serve now (408, 429,
// 5xx): a network error, an HTTP request that got no response (a *url.Error;
// answers with an HTTP status are transport.Errors instead).
func IsUnavailable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	if c := statusOf(err); c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500 {
		return true
	}
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &urlErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
