# Package denylist (policy.package_denylist): no package of these names.
package bakery.package_denylist

deny contains msg if {
	some p in input.sbom.packages
	p.name in input.config.package_denylist
	msg := sprintf("package %s %s is denied in %s", [p.name, p.version, input.environment])
}
