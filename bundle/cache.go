package bundle

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"sync"

	"github.com/bakeryhq/bakery/internal/registry"
)

// maxCachedBlob bounds a blob the cache keeps: signature and attestation
// payloads (an SBOM is a few megabytes), which verification reads before
// export writes them; image layers are read once anyway.
const maxCachedBlob = 32 << 20

var blobPathRE = regexp.MustCompile(`/blobs/(sha256:[0-9a-f]{64})$`)

// blobCache keeps the small blobs fetched through it, by digest. A blob is
// its digest's content wherever it is read (go-containerregistry checks it
// as it reads), so the repository does not matter.
type blobCache struct {
	next  http.RoundTripper
	store *blobStore
}

// blobStore is the blobs one command keeps.
type blobStore struct {
	mu   sync.Mutex
	blob map[string]cached
}

type cached struct {
	header http.Header
	body   []byte
}

// withBlobCache returns a context whose registry calls share one blobCache.
func withBlobCache(ctx context.Context) context.Context {
	store := &blobStore{blob: map[string]cached{}}
	return registry.Wrap(ctx, func(rt http.RoundTripper) http.RoundTripper {
		return &blobCache{next: rt, store: store}
	})
}

// RoundTrip answers a GET of a blob it has from memory, and keeps a small
// blob it fetches.
func (c *blobCache) RoundTrip(req *http.Request) (*http.Response, error) {
	m := blobPathRE.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodGet || m == nil {
		return c.next.RoundTrip(req)
	}
	c.store.mu.Lock()
	hit, ok := c.store.blob[m[1]]
	c.store.mu.Unlock()
	if ok {
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: hit.header.Clone(), Request: req,
			ContentLength: int64(len(hit.body)), Body: io.NopCloser(bytes.NewReader(hit.body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength < 0 || resp.ContentLength > maxCachedBlob {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.store.mu.Lock()
	c.store.blob[m[1]] = cached{header: resp.Header.Clone(), body: body}
	c.store.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
