package progress

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
)

// TestFailedStepLogIsPrintedWhenQuiet: with --progress quiet nothing is
// shown while building, and a failed step's last TailLines log lines are
// printed when the display closes (a line split across writes whole); a step
// canceled because another failed, and a step that succeeded, are not.
func TestFailedStepLogIsPrintedWhenQuiet(t *testing.T) {
	var out bytes.Buffer
	p, err := NewPrinter(context.Background(), &out, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	failed, canceled, ok := digest.FromString("run"), digest.FromString("other"), digest.FromString("fine")
	ch := p.Stream("app linux/amd64")
	var logs []*client.VertexLog
	for i := 1; i <= 30; i++ {
		logs = append(logs, &client.VertexLog{Vertex: failed, Data: []byte(fmt.Sprintf("line %d\npart", i))},
			&client.VertexLog{Vertex: failed, Data: []byte(fmt.Sprintf("ial %d\n", i))})
	}
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: failed, Name: "RUN make"}, {Digest: canceled, Name: "RUN other"}, {Digest: ok, Name: "COPY . ."}}}
	ch <- &client.SolveStatus{Logs: append(logs,
		&client.VertexLog{Vertex: canceled, Data: []byte("canceled's log\n")},
		&client.VertexLog{Vertex: ok, Data: []byte("fine's log\n")})}
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: failed, Name: "RUN make", Error: `process "/bin/sh -c make" did not complete successfully: exit code: 2`},
		{Digest: canceled, Name: "RUN other", Error: "context canceled"},
	}}
	close(ch)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, "------\n > [app linux/amd64] RUN make:\n") || !strings.HasSuffix(got, "line 30\npartial 30\n------\n") {
		t.Errorf("output:\n%s", got)
	}
	// 30 lines and 30 partials: the last 20 lines are line 21 .. partial 30.
	if strings.Count(got, "\n") != TailLines+3 || !strings.Contains(got, "\nline 21\n") || strings.Contains(got, "partial 20\n") {
		t.Errorf("want exactly the last %d lines:\n%s", TailLines, got)
	}
	if strings.Contains(got, "canceled's log") || strings.Contains(got, "fine's log") {
		t.Errorf("printed a step that did not fail:\n%s", got)
	}
}

// TestNoFailureNoTail: a build that succeeds prints nothing in quiet mode.
func TestNoFailureNoTail(t *testing.T) {
	var out bytes.Buffer
	p, err := NewPrinter(context.Background(), &out, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	step := LoggedStep(p, "ami", "packer build t.pkr.hcl")
	fmt.Fprintln(step, "==> building")
	step.Done(nil)
	if err := p.Wait(); err != nil || out.Len() != 0 {
		t.Errorf("quiet success printed %q (%v)", out.String(), err)
	}
}
