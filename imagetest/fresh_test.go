package imagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// freshRunner is a FreshRunner whose commands take a moment; it counts how
// many run at once and how containers were started.
type freshRunner struct {
	parallel int
	mu       sync.Mutex
	running  int
	peak     int
	once     int // containers from StartOnce
	kept     int // containers from Start
	released int
}

func (f *freshRunner) Parallel() int { return f.parallel }

func (f *freshRunner) Start(context.Context, bool) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept++
	return f, nil
}

func (f *freshRunner) StartOnce(context.Context, bool) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.once++
	return f, nil
}

func (f *freshRunner) Run(_ context.Context, c Command) (Output, error) {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	if c.Args[0] == "fail" {
		return Output{ExitCode: 1}, nil
	}
	return Output{Stdout: []byte(c.Args[len(c.Args)-1])}, nil
}

func (f *freshRunner) Release(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released++
	return nil
}

var _ FreshRunner = (*freshRunner)(nil)

// TestFreshRunnerRunsTestsAtOnce: on a FreshRunner the command tests run up
// to Parallel at once, a test without setup or teardown gets a StartOnce
// container, the outcomes stay in the suite's order, and the file tests
// are judged all the same.
func TestFreshRunnerRunsTestsAtOnce(t *testing.T) {
	img := testImage(t, v1.Config{})
	s := &Suite{Name: "s", FileExistenceTests: []FileExistenceTest{{Name: "tool", Path: "/bin/tool"}}}
	for i := range 8 {
		ct := CommandTest{Name: fmt.Sprintf("t%d", i), Command: "echo", Args: []string{fmt.Sprint(i)}, ExpectedOutput: []string{fmt.Sprintf("^%d$", i)}}
		if i == 5 {
			ct.Command = "fail"
		}
		if i == 6 {
			ct.Setup = [][]string{{"echo", "prepare"}}
		}
		s.CommandTests = append(s.CommandTests, ct)
	}
	f := &freshRunner{parallel: 3}
	r, err := Run(context.Background(), s, img, f)
	if err != nil {
		t.Fatal(err)
	}
	if f.peak < 2 || f.peak > 3 {
		t.Errorf("at most %d ran at once, want 2 or 3 (Parallel 3)", f.peak)
	}
	if f.once != 7 || f.kept != 1 || f.released != 8 {
		t.Errorf("StartOnce %d, Start %d, released %d; want 7 (one process each), 1 (the test with setup), 8", f.once, f.kept, f.released)
	}
	want := []string{"tool", "t0", "t1", "t2", "t3", "t4", "t6", "t7"}
	if fmt.Sprint(r.PassedTests) != fmt.Sprint(want) || fmt.Sprint(r.FailedTests) != "[t5]" || r.Result != Failed {
		t.Errorf("passed %v failed %v result %s; want %v, [t5], FAILED", r.PassedTests, r.FailedTests, r.Result, want)
	}
}

// TestPlainRunnerRunsTestsInTurn: a Runner that is not fresh (a machine,
// whose tests share a filesystem) runs one test at a time.
func TestPlainRunnerRunsTestsInTurn(t *testing.T) {
	img := testImage(t, v1.Config{})
	s := &Suite{Name: "s"}
	for i := range 4 {
		s.CommandTests = append(s.CommandTests, CommandTest{Name: fmt.Sprint(i), Command: "echo", Args: []string{"x"}})
	}
	f := &plainRunner{fresh: &freshRunner{parallel: 4}}
	if _, err := Run(context.Background(), s, img, f); err != nil {
		t.Fatal(err)
	}
	if f.fresh.peak != 1 || f.fresh.kept != 4 || f.fresh.once != 0 {
		t.Errorf("peak %d, Start %d, StartOnce %d; want 1, 4, 0", f.fresh.peak, f.fresh.kept, f.fresh.once)
	}
}

// plainRunner hides freshRunner's FreshRunner methods.
type plainRunner struct{ fresh *freshRunner }

func (p *plainRunner) Start(ctx context.Context, network bool) (Container, error) {
	return p.fresh.Start(ctx, network)
}
