// Command bakery-core is bakery: it bakes golden images, attests them and
// promotes them by digest. The bakery binary users run is a small front (see
// cmd/bakery) that answers --help and --version itself and runs bakery-core,
// which it finds next to itself, for everything else. main only wires the
// commands to a context, prints a failure (as JSON with -o json) and maps it
// to its exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bakeryhq/bakery/cmd/bakery/cli"
	"github.com/bakeryhq/bakery/internal/failure"
)

// version is set at release time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Execute(ctx, version)
	stop()
	if err != nil {
		cli.PrintError(os.Stderr, err, cli.WantsJSON(os.Args[1:]))
		os.Exit(failure.ClassOf(err).ExitCode())
	}
}
