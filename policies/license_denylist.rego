# License denylist (policy.license_denylist, SPDX license ids as syft reports
# them, e.g. AGPL-3.0-only): no package in the SBOM may carry a denied license.
package bakery.license_denylist

deny contains msg if {
	some l in input.config.license_denylist
	some pkg in input.sbom.by_license[l]
	msg := sprintf("package %s is licensed %s, which %s denies", [pkg, l, input.environment])
}
