package progress

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
)

// TailLines is how many of a failed step's last log lines are printed, as
// buildx prints them.
const TailLines = 20

// maxPartial bounds an unfinished log line kept while waiting for its end.
const maxPartial = 64 << 10

// tail keeps the last TailLines log lines of every vertex of every stream,
// and the vertices that failed, so that a failed step's log is printed
// whatever the progress mode (quiet shows nothing while it runs).
type tail struct {
	mu     sync.Mutex
	names  map[string]string
	lines  map[string][]string
	open   map[string][]byte
	errs   map[string]string
	failed []string
}

func newTail() *tail {
	return &tail{names: map[string]string{}, lines: map[string][]string{}, open: map[string][]byte{}, errs: map[string]string{}}
}

// observe records st, from the stream called prefix, whose vertices are
// already named "[prefix] name".
func (t *tail) observe(prefix string, st *client.SolveStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range st.Vertexes {
		key := prefix + "\x00" + v.Digest.String()
		t.names[key] = v.Name
		if v.Error != "" && t.errs[key] == "" {
			t.errs[key] = v.Error
			t.failed = append(t.failed, key)
		}
	}
	for _, l := range st.Logs {
		key := prefix + "\x00" + l.Vertex.String()
		data := append(t.open[key], l.Data...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			t.add(key, string(data[:i]))
			data = data[i+1:]
		}
		if len(data) > maxPartial {
			t.add(key, string(data))
			data = nil
		}
		t.open[key] = append([]byte(nil), data...)
	}
}

func (t *tail) add(key, line string) {
	lines := append(t.lines[key], strings.TrimRight(line, "\r"))
	if len(lines) > TailLines {
		lines = append(lines[:0:0], lines[len(lines)-TailLines:]...)
	}
	t.lines[key] = lines
}

// print writes, for each failed step that logged anything (a step canceled
// because another failed is left out), its last log lines between rules, as
// buildx does.
func (t *tail) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, key := range t.failed {
		if strings.Contains(t.errs[key], "context canceled") {
			continue
		}
		lines := t.lines[key]
		if rest := t.open[key]; len(rest) > 0 {
			lines = append(lines, string(rest))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "------\n > %s:\n", t.names[key])
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "------")
	}
}
