package buildkit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

func testFleet(emulation bool, nodes ...*node) *fleet {
	return &fleet{nodes: nodes, emulation: emulation, changed: make(chan struct{})}
}

// TestFleetSchedules: solves go to nodes that build their platforms
// natively, least loaded first within each node's bound; a solve waits for
// a slot; a node that is down gets nothing; a platform without a native node
// goes anywhere only with emulation, and check refuses it otherwise.
func TestFleetSchedules(t *testing.T) {
	amd1 := &node{name: "amd1", native: []string{"linux/amd64"}, max: 2}
	amd2 := &node{name: "amd2", native: []string{"linux/amd64"}, max: 1}
	arm := &node{name: "arm", native: []string{"linux/arm64"}, max: 1}
	f := testFleet(false, amd1, amd2, arm)
	ctx := context.Background()
	var got []string
	for range 3 {
		n, err := f.acquire(ctx, []string{"linux/amd64"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n.name)
	}
	if strings.Join(got, ",") != "amd1,amd2,amd1" {
		t.Errorf("amd64 solves went to %v, want least loaded first: amd1,amd2,amd1", got)
	}
	if n, err := f.acquire(ctx, []string{"linux/arm64"}, nil); err != nil || n != arm {
		t.Fatalf("arm64 went to %v (%v)", n, err)
	}
	f.release(ctx, arm, nil)
	// Every amd64 slot is taken: the next solve waits until one frees.
	acquired := make(chan *node)
	go func() {
		n, _ := f.acquire(ctx, []string{"linux/amd64"}, nil)
		acquired <- n
	}()
	select {
	case n := <-acquired:
		t.Fatalf("a solve got %s beyond its bound", n.name)
	case <-time.After(50 * time.Millisecond):
	}
	if f.release(ctx, amd2, nil) {
		t.Error("a successful solve marked its node down")
	}
	if n := <-acquired; n != amd2 {
		t.Errorf("the waiting solve got %v, want amd2's freed slot", n.name)
	}
	amd1.down = errors.New("unreachable")
	if _, err := f.acquire(ctx, []string{"linux/amd64"}, map[*node]bool{amd2: true}); err == nil {
		t.Error("a solve got a node that is down or skipped")
	}
	if _, err := f.acquire(ctx, []string{"linux/s390x"}, nil); err == nil {
		t.Error("with emulation off, a platform no node builds natively got a node")
	}
	err := f.check(&config.Target{Name: "web", Platforms: []string{"linux/amd64", "linux/s390x"}})
	if failure.ClassOf(err) != failure.Config || !strings.Contains(err.Error(), `target "web": no buildkitd node builds linux/s390x natively (amd1 [down], amd2 [linux/amd64], arm [linux/arm64]) and builder.emulation is false`) {
		t.Errorf("check: %v", err)
	}
	if f.splits([]string{"linux/amd64"}) || !f.splits([]string{"linux/amd64", "linux/arm64"}) {
		t.Error("splits: one platform never; amd64+arm64, which no node builds both of, over two healthy nodes")
	}
	if one := testFleet(true, &node{name: "only", native: []string{"linux/amd64"}, max: 1}); one.splits([]string{"linux/amd64", "linux/arm64"}) {
		t.Error("a fleet of one split a two-platform target")
	}
	f.emulation = true
	if err := f.check(&config.Target{Name: "web", Platforms: []string{"linux/s390x"}}); err != nil {
		t.Errorf("with emulation: %v", err)
	}
	if n, err := f.acquire(ctx, []string{"linux/s390x"}, map[*node]bool{amd2: true}); err != nil || n != arm {
		t.Errorf("with emulation, s390x went to %v (%v), want the healthy node with a free slot", n, err)
	}
}
