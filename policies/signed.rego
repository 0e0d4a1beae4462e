# Signed by a trusted key: the digest carries at least one signature that a
# key in verification.keys verified.
package bakery.signed

deny contains msg if {
	count(input.signatures) == 0
	msg := sprintf("%s is not signed by a trusted key", [input.image.reference])
}
