# License denylist (policy.license_denylist, SPDX ids): no package in the SBOM
# may carry a denied license.
package bakery.license_denylist

deny contains msg if {
	some p in input.sbom.packages
	some l in p.licenses
	some denied in input.config.license_denylist
	lower(l) == lower(denied)
	msg := sprintf("package %s %s is licensed %s, which %s denies", [p.name, p.version, l, input.environment])
}
