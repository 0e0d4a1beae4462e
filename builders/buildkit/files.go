package buildkit

import (
	"context"
	"io/fs"
	"strings"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bakeryhq/bakery/imagetest"
)

var _ imagetest.FileReader = (*runner)(nil)

// ReadPath reads p from the node's copy of the image under test (the exact
// digest, pulled by it): BuildKit resolves every link in p within the
// image's root, as the kernel does in the container. The node reports a
// missing path as an error whose text is the stat's (ENOENT, ENOTDIR,
// ELOOP), which is how it is told from a node that cannot answer.
func (r *runner) ReadPath(ctx context.Context, p string, content bool, most int64) (imagetest.PathInfo, []byte, error) {
	st, err := r.ref.StatFile(ctx, gateway.StatRequest{Path: p})
	if err != nil {
		return imagetest.PathInfo{}, nil, absentOr(err)
	}
	info := imagetest.PathInfo{Mode: fs.FileMode(st.Mode), UID: int(st.Uid), GID: int(st.Gid), Size: st.Size}
	if !content || !info.Mode.IsRegular() {
		return info, nil, nil
	}
	data, err := r.ref.ReadFile(ctx, gateway.ReadRequest{Filename: p, Range: &gateway.FileRange{Length: int(most + 1)}})
	if err != nil {
		return info, nil, absentOr(err)
	}
	return info, data, nil
}

// absentReasons are the stat errors that mean "not there", as a stat in
// the container would word them.
var absentReasons = map[string]string{
	"no such file or directory":         "no such file or directory",
	"not a directory":                   "no such file or directory",
	"too many levels of symbolic links": "too many levels of symbolic links",
	"too many links":                    "too many levels of symbolic links",
}

// absentOr is err as an *imagetest.AbsentError when the node answered that
// the path is not there, else err.
func absentOr(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err // the node or the session failed, not the path
	}
	msg := err.Error()
	for suffix, why := range absentReasons {
		if strings.HasSuffix(msg, suffix) {
			return &imagetest.AbsentError{Why: why}
		}
	}
	return err
}
