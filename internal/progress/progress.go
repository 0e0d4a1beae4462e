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
)

// Modes lists the accepted --progress values.
var Modes = []string{"auto", "tty", "plain", "quiet", "rawjson"}

// Printer fans in the status streams of concurrent builds into one display.
type Printer struct {
	ch   chan *client.SolveStatus
	wg   sync.WaitGroup
	done chan struct{}
	err  error
}

// NewPrinter starts a display on out. Call Wait once every stream is closed.
func NewPrinter(ctx context.Context, out io.Writer, mode string) (*Printer, error) {
	d, err := progressui.NewDisplay(out, progressui.DisplayMode(mode))
	if err != nil {
		return nil, fmt.Errorf("--progress %s: %w", mode, err)
	}
	p := &Printer{ch: make(chan *client.SolveStatus), done: make(chan struct{})}
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
			p.ch <- st
		}
	}()
	return in
}

// Wait closes the display after every stream is closed and returns its error.
func (p *Printer) Wait() error {
	p.wg.Wait()
	close(p.ch)
	<-p.done
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
