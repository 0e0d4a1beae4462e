package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/registry"
)

// Host is the registry host a bundle is served under, in-process only: a
// reserved name (RFC 2606) that no network can answer.
const Host = "bundle.invalid"

// Repository is where Serve puts the image and its cosign tags.
const Repository = Host + "/bundle"

// Serve returns a context in which Host answers registry requests from the
// bundle's layout in this process (registry.ServeLocal), and the image's
// digest there. With offline, any other registry is unreachable: nothing
// done with the context can touch the network.
func (b *Bundle) Serve(ctx context.Context, offline bool) (context.Context, name.Digest, error) {
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithBlobHandler(blobs{b}))
	for _, bl := range b.Manifest.Blobs { // children before parents
		if bl.What != "manifest" {
			continue
		}
		repo := "bundle"
		if bl.Of == RoleRevocations {
			repo = revocationsRepository
		}
		if err := b.put(h, repo, bl.Digest, bl.MediaType); err != nil {
			return nil, name.Digest{}, err
		}
	}
	for _, o := range b.Manifest.Objects {
		if o.Tag == "" {
			continue
		}
		repo := "bundle"
		if o.Role == RoleRevocations {
			repo = revocationsRepository
		}
		if err := b.put(h, repo, o.Tag, o.MediaType, o.Digest); err != nil {
			return nil, name.Digest{}, err
		}
	}
	ref, err := name.NewDigest(Repository + "@" + b.Manifest.Digest)
	if err != nil {
		return nil, name.Digest{}, failure.New(failure.Verify, "bundle "+b.Path, err, "")
	}
	return registry.ServeLocal(ctx, Host, h, offline), ref, nil
}

// revocationsRepository is where Serve puts the revocation list: where
// revoke.Location finds it for an environment whose repository is
// Repository.
const revocationsRepository = "bundle/" + config.ReservedRepository

// put stores the manifest blob digest (default: ref) under repo:ref.
func (b *Bundle) put(h http.Handler, repo, ref, mediaType string, digest ...string) error {
	d := ref
	if len(digest) > 0 {
		d = digest[0]
	}
	body, err := b.read(d)
	if err != nil {
		return b.fail("manifest "+d, errors.New("is missing"))
	}
	req := httptest.NewRequest(http.MethodPut, "http://"+Host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return b.fail("manifest "+d, fmt.Errorf("is not a valid manifest: %s", rec.Body.String()))
	}
	return nil
}

// blobs serves the layout's checked blobs from the extracted directory.
type blobs struct{ b *Bundle }

var errNotFound = errors.New("not found")

func (s blobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	if _, ok := s.b.sizes[h.String()]; !ok {
		return nil, errNotFound
	}
	s.b.mu.Lock()
	s.b.served[h.String()]++
	s.b.mu.Unlock()
	return os.Open(s.b.blobPath(h.String()))
}

func (s blobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	n, ok := s.b.sizes[h.String()]
	if !ok {
		return 0, errNotFound
	}
	return n, nil
}
