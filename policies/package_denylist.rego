# Package denylist (policy.package_denylist): no package of these names.
package bakery.package_denylist

deny contains msg if {
	some name in input.config.package_denylist
	some version in input.sbom.by_name[name]
	msg := sprintf("package %s %s is denied in %s", [name, version, input.environment])
}
