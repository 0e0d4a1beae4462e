// Command bakery bakes golden images, attests them and promotes them by digest.
// main only wires the commands to a context and maps failures to exit codes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
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
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "error: "+line)
		}
		os.Exit(failure.ClassOf(err).ExitCode())
	}
}
