// Command packer-plugin-bakery is bakery's Packer plugin:
//
//   - builder bakery-chroot: bakes a machine image from a rootfs tarball in a chroot;
//   - provisioner bakery-sbom: collects the machine's package databases and
//     catalogs them with syft;
//   - provisioner bakery-test: runs the target's test suites inside the
//     machine before it is sealed;
//   - post-processor bakery: records the artifact as a signed, attested
//     machine-image record in the registry (the path of a digest);
//   - data source bakery-image: the verified image an environment runs.
//
// `bakery build` installs it with `packer plugins install --path`.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"
	"github.com/hashicorp/packer-plugin-sdk/version"

	"github.com/bakeryhq/bakery/packer/plugin/chroot"
	"github.com/bakeryhq/bakery/packer/plugin/image"
	"github.com/bakeryhq/bakery/packer/plugin/machinetest"
	"github.com/bakeryhq/bakery/packer/plugin/postprocessor"
	"github.com/bakeryhq/bakery/packer/plugin/sbom"
)

// Version is set at release time (-ldflags "-X main.Version=..."). Packer
// installs only release versions with `plugins install --path`.
var Version = "0.1.0"

func main() {
	set := plugin.NewSet()
	set.RegisterBuilder("chroot", new(chroot.Builder))
	set.RegisterProvisioner("sbom", &sbom.Provisioner{Version: Version})
	set.RegisterProvisioner("test", new(machinetest.Provisioner))
	set.RegisterPostProcessor(plugin.DEFAULT_NAME, &postprocessor.PostProcessor{Version: Version})
	set.RegisterDatasource("image", new(image.Datasource))
	set.SetVersion(version.NewPluginVersion(Version, "", ""))
	if err := set.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
