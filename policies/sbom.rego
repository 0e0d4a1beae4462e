# SBOM present: a verified SPDX or CycloneDX attestation is attached.
package bakery.sbom

deny contains msg if {
	not input.sbom.present == true
	msg := sprintf("%s has no verified SBOM attestation", [input.image.reference])
}
