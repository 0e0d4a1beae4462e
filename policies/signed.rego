# Signed by a trusted key: the digest carries at least one signature that a
# key in verification.keys verified.
package bakery.signed

deny contains msg if {
	not has_signature
	msg := sprintf("%s is not signed by a trusted key", [input.image.reference])
}

has_signature if {
	some s in input.signatures
	s.key_id != ""
}
