package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/builders/buildkit"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// The modules whose versions bakery version reports: the libraries bakery
// builds, scans and signs with (their version in bakery's binary, which is
// the one go.mod pins).
const (
	buildkitModule = "github.com/moby/buildkit"
	syftModule     = "github.com/anchore/syft"
	cosignModule   = "github.com/sigstore/cosign/v2"
)

// serverTimeout bounds the question to buildkitd: version is answered at
// once, with "not reachable" for a builder that is down or absent.
const serverTimeout = 2 * time.Second

// versions is what bakery version prints, and its JSON.
type versions struct {
	Bakery   string          `json:"bakery"`
	Go       string          `json:"go"`
	BuildKit buildkitVersion `json:"buildkit"`
	Syft     string          `json:"syft"`
	Cosign   string          `json:"cosign"`
}

// buildkitVersion is BuildKit's client library, linked into bakery, and the
// buildkitd that builder.address names.
type buildkitVersion struct {
	Client string        `json:"client"`
	Server serverVersion `json:"server"`
}

// serverVersion is buildkitd's answer, or why there is none.
type serverVersion struct {
	Address   string `json:"address,omitempty"`
	Reachable bool   `json:"reachable"`
	Version   string `json:"version,omitempty"`
	Revision  string `json:"revision,omitempty"`
	Error     string `json:"error,omitempty"`
}

func newVersion(ro *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of bakery, Go, BuildKit (library and buildkitd), syft and cosign",
		Long: `Print bakery's version, the Go version it was built with, and the versions of
the BuildKit, syft and cosign libraries linked into it. When the builder
answers within 2 seconds, buildkitd's own version too; otherwise it says
"not reachable". The builder is the config's builder.address (its first
node; --builder and BAKERY_BUILDER_ADDRESS override it), or --builder when
there is no config: version needs no config file.`,
		Example: `  bakery version
  bakery version -o json
  bakery version --builder unix:///run/buildkit/buildkitd.sock`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			v := libraryVersions(ro.version, buildInfo())
			node, dir, err := builderNode(ro, cmd)
			v.BuildKit.Server = askServer(cmd.Context(), node, dir, err)
			if ro.output == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return printVersions(cmd, v)
		},
	}
	config.AddBuilderFlag(cmd.Flags())
	return cmd
}

// buildInfo is the binary's build information, or nil. A test binary's
// lists no dependencies, so the tests replace it.
var buildInfo = func() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

// libraryVersions reads the versions of bakery (its -X main.version, else
// the module version `go install` records) and of the libraries from bi.
func libraryVersions(version string, bi *debug.BuildInfo) versions {
	v := versions{Bakery: version, Go: runtime.Version()}
	if bi == nil {
		v.BuildKit.Client, v.Syft, v.Cosign = "unknown", "unknown", "unknown"
		return v
	}
	if (version == "" || version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Bakery = bi.Main.Version
	}
	v.BuildKit.Client = moduleVersion(bi, buildkitModule)
	v.Syft = moduleVersion(bi, syftModule)
	v.Cosign = moduleVersion(bi, cosignModule)
	return v
}

// moduleVersion is the version of module path among bi's dependencies (a
// replacement's, when it is replaced), or "unknown".
func moduleVersion(bi *debug.BuildInfo, path string) string {
	for _, m := range bi.Deps {
		if m.Path != path {
			continue
		}
		if m.Replace != nil {
			if m.Replace.Version == "" {
				return m.Version + " (replaced by " + m.Replace.Path + ")"
			}
			return m.Replace.Version + " (" + m.Replace.Path + ")"
		}
		return m.Version
	}
	return "unknown"
}

// builderNode is the buildkitd to ask: the first node of the config's
// builder, or the --builder flag's address when there is no usable config.
// A config that cannot be read is no error here: version needs none.
func builderNode(ro *rootOptions, cmd *cobra.Command) (node config.Node, dir string, err error) {
	cfg, err := config.Load(config.Options{File: ro.configFile, Flags: cmd.Flags()})
	if err == nil {
		if nodes := cfg.Builder.Fleet(); len(nodes) > 0 && nodes[0].Address != "" {
			return nodes[0], cfg.Dir, nil
		}
		return config.Node{}, "", fmt.Errorf("no builder.address")
	}
	if f := cmd.Flags().Lookup("builder"); f != nil && f.Value.String() != "" {
		return config.Node{Address: f.Value.String()}, ".", nil
	}
	return config.Node{}, "", fmt.Errorf("no builder address: %s", failure.OneLine(err.Error()))
}

// askServer asks the node for its version, for at most serverTimeout.
func askServer(ctx context.Context, node config.Node, dir string, err error) serverVersion {
	s := serverVersion{Address: node.Address}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	ctx, cancel := context.WithTimeout(ctx, serverTimeout)
	defer cancel()
	c, err := client.New(ctx, node.Address, buildkit.ClientOptions(node, dir)...)
	if err != nil {
		s.Error = failure.OneLine(err.Error())
		return s
	}
	defer func() { _ = c.Close() }()
	info, err := c.Info(ctx)
	if err != nil {
		s.Error = failure.OneLine(err.Error())
		return s
	}
	s.Reachable = true
	s.Version, s.Revision = info.BuildkitVersion.Version, info.BuildkitVersion.Revision
	return s
}

func printVersions(cmd *cobra.Command, v versions) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "bakery\t%s\n", v.Bakery)
	fmt.Fprintf(tw, "go\t%s\n", v.Go)
	fmt.Fprintf(tw, "buildkit (client library)\t%s\n", v.BuildKit.Client)
	s := v.BuildKit.Server
	switch {
	case s.Reachable:
		fmt.Fprintf(tw, "buildkitd (server)\t%s %s at %s\n", s.Version, s.Revision, s.Address)
	case s.Address != "":
		fmt.Fprintf(tw, "buildkitd (server)\tnot reachable at %s: %s\n", s.Address, s.Error)
	default:
		fmt.Fprintf(tw, "buildkitd (server)\tnot reachable: %s\n", s.Error)
	}
	fmt.Fprintf(tw, "syft (library)\t%s\n", v.Syft)
	fmt.Fprintf(tw, "cosign (library)\t%s\n", v.Cosign)
	return tw.Flush()
}
