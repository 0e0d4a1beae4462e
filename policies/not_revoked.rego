# Not revoked: the digest is not on the signed revocation list (bakery
# revoke). bakery evaluates it for every environment, whether listed in its
# policies or not.
package bakery.not_revoked

deny contains msg if {
	input.revoked.revoked == true
	msg := sprintf("%s was revoked at %s by %s: %s", [input.image.digest, input.revoked.effective_at, input.revoked.by, input.revoked.reason])
}
