// Package progress shows the progress of several concurrent builds in one
// BuildKit progressui display, each vertex prefixed with its target's name,
// as buildx does. Modes are buildx's: auto, tty, plain, quiet, rawjson.
package progress

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/opencontainers/go-digest"

	"github.com/bakeryhq/bakery/internal/env"
)

// Modes lists the accepted --progress values.
var Modes = []string{"auto", "tty", "plain", "quiet", "rawjson"}

// Printer fans in the status streams of concurrent builds into one display.
// Whatever the mode, a failed step's last log lines are printed on Wait
// (rawjson carries them in its stream already).
type Printer struct {
	ch   chan *client.SolveStatus
	wg   sync.WaitGroup
	done chan struct{}
	err  error
	out  io.Writer
	mode string
	tail *tail
}

// Mode resolves "auto": plain in a CI job (CI, GITLAB_CI set), where a
// runner may allocate a terminal that no one watches and logs want one line
// per step with its elapsed time; otherwise progressui decides (tty on a
// terminal, plain elsewhere).
func Mode(mode string) string {
	if mode != "auto" {
		return mode
	}
	for _, v := range []env.Variable{env.CI, env.GitLabCI} {
		if s := env.Getenv(v); s != "" && s != "false" && s != "0" {
			return "plain"
		}
	}
	return mode
}

// NewPrinter starts a display on out. Call Wait once every stream is closed.
func NewPrinter(ctx context.Context, out io.Writer, mode string) (*Printer, error) {
	d, err := progressui.NewDisplay(out, progressui.DisplayMode(Mode(mode)))
	if err != nil {
		return nil, fmt.Errorf("--progress %s: %w", mode, err)
	}
	p := &Printer{ch: make(chan *client.SolveStatus), done: make(chan struct{}), out: out, mode: Mode(mode), tail: newTail()}
	go func() {
		defer close(p.done)
		// A display error must not block the builds: keep draining.
		if _, err := d.UpdateFrom(context.WithoutCancel(ctx), p.ch); err != nil {
			p.err = err
			for range p.ch {
			}
		}
	}()
	return p, nil
}

// Stream returns a channel for one build's status updates. Every vertex is
// shown as "[prefix] name". The caller (BuildKit's Solve) closes it.
func (p *Printer) Stream(prefix string) chan *client.SolveStatus {
	in := make(chan *client.SolveStatus)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for st := range in {
			for _, v := range st.Vertexes {
				v.Name = "[" + prefix + "] " + v.Name
			}
			p.tail.observe(prefix, st)
			p.ch <- st
		}
	}()
	return in
}

// Wait closes the display after every stream is closed, prints the last
// log lines of each step that failed, and returns the display's error.
func (p *Printer) Wait() error {
	p.wg.Wait()
	close(p.ch)
	<-p.done
	if p.mode != "rawjson" {
		p.tail.print(p.out)
	}
	return p.err
}

// Streamer is anything that hands out status streams (a Printer).
type Streamer interface {
	Stream(prefix string) chan *client.SolveStatus
}

// Step shows a step bakery runs itself (an SBOM, a signature) as a vertex of
// its own, started now; the returned function completes it, with err if any.
// A nil Streamer shows nothing.
func Step(s Streamer, prefix, name string) func(err error) {
	if s == nil {
		return func(error) {}
	}
	ch := s.Stream(prefix)
	started := time.Now()
	dgst := digest.FromString(prefix + "\x00" + name + started.String())
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: dgst, Name: name, Started: &started}}}
	return func(err error) {
		done := time.Now()
		v := &client.Vertex{Digest: dgst, Name: name, Started: &started, Completed: &done}
		if err != nil {
			v.Error = err.Error()
		}
		ch <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
		close(ch)
	}
}

// Logged is a step whose output is shown as the vertex's log, as BuildKit
// shows a RUN step's output: Packer's output streamed into the display.
type Logged struct {
	ch      chan *client.SolveStatus
	dgst    digest.Digest
	name    string
	started time.Time
	mu      sync.Mutex
}

// LoggedStep starts a step like Step and returns it; write its output to it
// and call Done once. A nil Streamer returns nil, which discards output.
func LoggedStep(s Streamer, prefix, name string) *Logged {
	if s == nil {
		return nil
	}
	l := &Logged{ch: s.Stream(prefix), name: name, started: time.Now()}
	l.dgst = digest.FromString(prefix + "\x00" + name + l.started.String())
	l.ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: l.dgst, Name: name, Started: &l.started}}}
	return l
}

// Write adds p to the step's log.
func (l *Logged) Write(p []byte) (int, error) {
	if l == nil {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	data := append([]byte(nil), p...)
	l.ch <- &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: l.dgst, Stream: 1, Data: data, Timestamp: time.Now()}}}
	return len(p), nil
}

// Done completes the step, failed if err is not nil.
func (l *Logged) Done(err error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	done := time.Now()
	v := &client.Vertex{Digest: l.dgst, Name: l.name, Started: &l.started, Completed: &done}
	if err != nil {
		v.Error = err.Error()
	}
	l.ch <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
	close(l.ch)
}
