# Not revoked: neither the digest nor any base or material its verified
# provenance names, transitively, is on the signed revocation list (bakery
# revoke). bakery evaluates it for every environment, whether listed in its
# policies or not.
package bakery.not_revoked

deny contains msg if {
	input.revoked.revoked == true
	not input.revoked.cause
	msg := sprintf("%s was revoked at %s by %s: %s", [input.image.digest, input.revoked.effective_at, input.revoked.by, input.revoked.reason])
}

deny contains msg if {
	input.revoked.revoked == true
	input.revoked.cause
	msg := sprintf("%s is built on %s, which was revoked at %s by %s: %s", [input.image.digest, input.revoked.cause, input.revoked.effective_at, input.revoked.by, input.revoked.reason])
}
