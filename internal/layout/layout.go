// Package layout states bakery's one layout rule, and its test enforces it:
// every package imports only packages of its own floor or below, never one
// above. Read Floors from the bottom up to follow the path of a digest:
// config and the registry, the machine-image record, the builders, the
// policies, SBOMs, attestations (which sign the SBOMs: attest imports
// attest/sbom, never the reverse), receipts, promotion, the pipeline that
// builds and publishes, the Packer driver and plugin, and the commands on
// top. Test kits sit on the floor of what they import: internal/bakerytest
// (a registry, images, an index) on the ground floor, so that every
// package's tests can use it; attest/attesttest (key pairs, publishing as a
// build does) with attest.
package layout

// Floors lists bakery's packages (paths relative to the module; "x/..." is x
// and everything under it), top floor first. A package may import packages of
// its own floor and of the floors after it. A package that is on no floor
// fails the test until it is given one; hack/ and e2e/ sit outside the house.
var Floors = [][]string{
	{"cmd/bakery", "cmd/bakery-core", "cmd/packer-plugin-bakery"},
	{"cmd/bakery/cli"},
	{"packer/plugin/postprocessor", "packer/plugin/image"},
	{"packer/plugin/chroot", "packer/plugin/sbom", "packer/plugin/machinetest"},
	{"packer"},
	{"pipeline"},
	{"report", "bundle"},
	{"inventory", "deploy/admission", "gc"},
	{"promote"},
	{"promote/amis"},
	{"deploy/gitops"},
	{"receipt", "revoke", "gc/record", "vuln", "vuln/vulntest"},
	{"attest", "attest/attesttest"},
	{"attest/sbom", "attest/sbomtest"},
	{"policies"},
	{"builders/buildkit"},
	{"builders", "imagetest"},
	{"machineimage"},
	{"internal/config", "internal/registry", "internal/progress"},
	{"internal/failure", "internal/env", "internal/layout", "internal/schemacheck", "internal/bakerytest", "internal/clispec"},
}

// TestOnly are packages that only tests, e2e/ and hack/ may import: stand-ins
// for real services and test helpers.
var TestOnly = []string{"promote/amis/ec2local", "vuln/vulntest", "attest/attesttest", "attest/sbomtest", "internal/bakerytest", "internal/testenv", "internal/schemacheck"}
