// Command clispec writes bakery's command tree as JSON for the bakery front
// binary to embed (internal/clispec): `go generate ./cmd/bakery` runs it.
// cmd/bakery/cli's TestSpecIsGenerated fails when the file is stale.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"

	"github.com/bakeryhq/bakery/cmd/bakery/cli"
	"github.com/bakeryhq/bakery/internal/clispec"
)

func main() {
	out := flag.String("o", "spec.json", "where to write the tree")
	flag.Parse()
	raw, err := json.MarshalIndent(clispec.Capture(cli.New("")), "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, append(raw, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}
