# SBOM delta: against what the environment runs now, the candidate brings no
# license outside policy.license_allowlist and no new package outside
# policy.package_allowlist (each check is off while its list is empty).
# bakery fills input.sbom_delta when the environment lists this policy.
package bakery.sbom_delta

deny contains msg if {
	count(input.config.license_allowlist) > 0
	some l in input.sbom_delta.new_licenses
	not l in input.config.license_allowlist
	msg := sprintf("license %s is new to %s and not in policy.license_allowlist", [l, input.environment])
}

deny contains msg if {
	count(input.config.package_allowlist) > 0
	some p in input.sbom_delta.added
	not p.name in input.config.package_allowlist
	msg := sprintf("package %s %s is new to %s and not in policy.package_allowlist", [p.name, p.version, input.environment])
}
