package sbom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// With background set, bakery-sbom and bakery's post-processor (another
// plugin process) meet through files next to the SBOM, each naming the
// packer run:
//   - OUTPUT.pending, written before Provision returns: the run and the
//     provisioner's pid;
//   - OUTPUT, the SBOM, renamed into place when written (as without background);
//   - OUTPUT.err, the run and the error, when cataloguing failed.
//
// OUTPUT.pending is removed once OUTPUT or OUTPUT.err is in place.

// startPending marks output as being catalogued for run.
func startPending(output, run string) error {
	if err := os.Remove(output + ".err"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return writeFile(output+".pending", fmt.Sprintf("%s\n%d\n", run, os.Getpid()))
}

// finishPending records how cataloguing for run ended.
func finishPending(output, run string, err error) {
	if err != nil {
		_ = writeFile(output+".err", run+"\n"+err.Error())
	}
	_ = os.Remove(output + ".pending")
}

// Wait returns when nothing is being catalogued for run at output any more:
// at once when nothing was, with the error of a background catalog that
// failed, or when the provisioner's process is gone without finishing.
func Wait(ctx context.Context, output, run string) error {
	for {
		pending, err := os.ReadFile(output + ".pending")
		if err != nil {
			return failed(output, run)
		}
		r, pid, _ := strings.Cut(strings.TrimSpace(string(pending)), "\n")
		if r != run {
			return failed(output, run) // another run's leftover
		}
		if n, err := strconv.Atoi(pid); err == nil && syscall.Kill(n, 0) != nil {
			if _, err := os.Stat(output + ".pending"); err != nil {
				continue // it finished meanwhile
			}
			return fmt.Errorf("bakery-sbom (pid %d) stopped before writing %s", n, output)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// failed is the error a background catalog for run recorded, if any.
func failed(output, run string) error {
	b, err := os.ReadFile(output + ".err")
	if err != nil {
		return nil
	}
	r, msg, _ := strings.Cut(string(b), "\n")
	if r != run {
		return nil
	}
	return errors.New(msg)
}

// writeFile writes data to path through a rename, so that a reader sees all
// of it or nothing.
func writeFile(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
