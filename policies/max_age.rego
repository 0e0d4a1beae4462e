# Max age: the digest was built no more than the environment's max_age_days
# days ago (off when 0). A digest whose build time is unknown is denied.
package bakery.max_age

deny contains msg if {
	input.max_age_days > 0
	input.age_days == null
	msg := sprintf("%s has no verified build time, so its age in %s is unknown", [input.image.digest, input.environment])
}

deny contains msg if {
	input.max_age_days > 0
	input.age_days > input.max_age_days
	msg := sprintf("%s was built %d days ago; %s allows at most %d", [input.image.digest, input.age_days, input.environment, input.max_age_days])
}
