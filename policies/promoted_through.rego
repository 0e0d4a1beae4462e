# Promoted through the previous environment: the digest holds a receipt for
# the environment before this one, unless this environment accepts direct
# promotion.
package bakery.promoted_through

deny contains msg if {
	input.previous_environment != ""
	not input.accept_direct
	not has_previous_receipt
	msg := sprintf("%s has no receipt for %s: promote it to %s first", [input.image.digest, input.previous_environment, input.previous_environment])
}

has_previous_receipt if {
	some r in input.receipts
	r.target == input.target
	r.environment == input.previous_environment
	r.digest == input.image.digest
	r.result == "PASSED"
}
