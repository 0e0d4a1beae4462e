# Provenance present, from an allowed builder (policy.allowed_builders).
package bakery.provenance

deny contains msg if {
	not has_provenance
	msg := sprintf("%s has no verified SLSA provenance", [input.image.reference])
}

deny contains msg if {
	has_provenance
	not input.provenance.builder_id in input.config.allowed_builders
	msg := sprintf("builder %q is not allowed (policy.allowed_builders: %v)", [input.provenance.builder_id, input.config.allowed_builders])
}

has_provenance if input.provenance.builder_id
