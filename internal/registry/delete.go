package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bakeryhq/bakery/internal/failure"
)

// DeleteHint says how to let a registry delete manifests.
const DeleteHint = "turn deletion on in the registry: storage.delete.enabled: true in the distribution registry's config.yml " +
	"(or REGISTRY_STORAGE_DELETE_ENABLED=true), then run the command again"

// noManifest is a digest no manifest has: DELETE of it probes whether a
// registry deletes at all without deleting anything.
const noManifest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// CheckDelete reports whether repo's registry deletes manifests, by asking
// it to delete one that is not there: "not there" is yes; 405 or
// UNSUPPORTED (the distribution registry with deletion off, its default) is
// a config error naming the setting.
func CheckDelete(ctx context.Context, repo name.Repository) error {
	return Delete(ctx, repo.Digest(noManifest))
}

// Delete deletes the manifest at ref (and, in the distribution registry,
// every tag that points at it). One that is not there is not an error: a
// re-run finishes what an interrupted one began.
func Delete(ctx context.Context, ref name.Digest) error {
	err := remote.Delete(ref, Options(ctx)...)
	switch {
	case err == nil || IsNotFound(err):
		return nil
	case refusesDelete(err):
		return failure.New(failure.Config, "registry "+ref.RegistryStr(), errors.New("refuses to delete manifests (DELETE answered 405 UNSUPPORTED)"), DeleteHint)
	}
	return Classify(ref.String(), err)
}

// DeleteTag deletes tag by name, for registries that keep a tag whose
// manifest was deleted; one already gone is not an error.
func DeleteTag(ctx context.Context, tag name.Tag) error {
	err := remote.Delete(tag, Options(ctx)...)
	switch {
	case err == nil || IsNotFound(err):
		return nil
	case refusesDelete(err):
		return failure.New(failure.Config, "registry "+tag.RegistryStr(), errors.New("refuses to delete tags (DELETE answered 405 UNSUPPORTED)"), DeleteHint)
	}
	return Classify(tag.String(), err)
}

// refusesDelete is a registry's answer that it does not delete.
func refusesDelete(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusMethodNotAllowed {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.UnsupportedErrorCode || strings.EqualFold(string(d.Code), "UNSUPPORTED") {
			return true
		}
	}
	return false
}
