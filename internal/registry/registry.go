// Package registry holds the few registry operations bakery needs around a
// build: checking a registry answers, describing an image by digest, and
// pointing a tag at a digest. Everything takes digests; tags are only written.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bakeryhq/bakery/internal/failure"
)

// Options returns the remote options bakery uses for every registry call.
func Options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithUserAgent("bakery"),
	}
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
	resp, err := http.DefaultClient.Do(req)
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

// Describe fetches the manifest at ref and sums what it references.
func Describe(ctx context.Context, ref name.Digest) (Summary, error) {
	desc, err := remote.Get(ref, Options(ctx)...)
	if err != nil {
		return Summary{}, Classify(ref.String(), err)
	}
	return Summarize(ref, desc)
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

// Classify marks network failures as failure.Unavailable; other errors are
// returned wrapped with the subject.
func Classify(subject string, err error) error {
	if err == nil {
		return nil
	}
	if IsUnavailable(err) {
		return failure.New(failure.Unavailable, subject, err, "check that the registry is running and reachable, then retry")
	}
	return fmt.Errorf("%s: %w", subject, err)
}

// IsUnavailable reports whether err means the other end could not be reached
// or went away: a network error, or an HTTP request that got no response
// (a *url.Error; answers with an HTTP status are transport.Errors instead).
func IsUnavailable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &urlErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
