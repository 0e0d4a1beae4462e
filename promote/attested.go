package promote

import (
	"context"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bakeryhq/bakery/internal/registry"
)

// AttestedDigests lists the digests of repo that carry attestations
// (cosign's sha256-HEX.att tags), in tag order: the digests whose receipts
// make an environment's history. With also (".sig"), digests that carry only
// those tags are listed too. Each digest is listed once; a repository that
// is not there has none; a registry that cannot be read is a classified
// error (failure.Unavailable when it is down).
func AttestedDigests(ctx context.Context, repo name.Repository, also ...string) ([]name.Digest, error) {
	tags, err := remote.List(repo, registry.Options(ctx)...)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, nil
		}
		return nil, registry.Classify(repo.String(), err)
	}
	suffixes := append([]string{".att"}, also...)
	seen := map[string]bool{}
	var out []name.Digest
	for _, t := range tags {
		for _, suffix := range suffixes {
			hex, ok := strings.CutSuffix(t, suffix)
			if !ok || !strings.HasPrefix(hex, "sha256-") {
				continue
			}
			d := "sha256:" + strings.TrimPrefix(hex, "sha256-")
			if !seen[d] {
				seen[d] = true
				out = append(out, repo.Digest(d))
			}
			break
		}
	}
	return out, nil
}
