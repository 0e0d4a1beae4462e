# Vulnerabilities: every platform of the digest has a verified scan made
# with a database no older than the one bakery has loaded, no older than
# the environment's max_age, and no finding it counts is denied: none of
# deny_ids, none at or above deny_severity (with only_fixed, only those a
# fixed version exists for). A finding a signed VEX statement or a waiver
# suppresses does not count (bakery judges them, and names them in the
# receipt). The scan per platform is chosen in Go (vuln.Scans), bound to
# the digest, target and platform; findings carry their severity's rank.
package bakery.vulnerabilities

v := input.vulnerabilities

policy := v.policy

deny contains msg if {
	policy == null
	msg := sprintf("%s lists the vulnerabilities policy but sets none: add vulnerabilities: {deny_severity: high} (and optionally only_fixed, deny_ids, max_age) to %s in bakery.yaml", [input.environment, input.environment])
}

on("") := ""

on(platform) := sprintf(" on %s", [platform]) if platform != ""

scans_of(platform) := [s | some s in v.scans; s.platform == platform]

deny contains msg if {
	some platform in v.platforms
	count(scans_of(platform)) == 0
	msg := sprintf("%s has no verified vulnerability scan%s: run `bakery scan %s --env %s` (promote scans it when a database is configured)", [input.image.digest, on(platform), input.target, input.source_environment])
}

deny contains msg if {
	policy != null
	some s in v.scans
	s.age_seconds > policy.max_age_seconds
	msg := sprintf("%s: the newest scan%s finished %s, %ds ago; %s allows %ds: scan it again (bakery scan, or promote with vulnerabilities.db set)", [input.image.digest, on(s.platform), s.finished, s.age_seconds, input.environment, policy.max_age_seconds])
}

deny contains msg if {
	v.database != ""
	some s in v.scans
	s.db_built < v.database
	msg := sprintf("%s: the newest scan%s used a database built %s, older than the one loaded (built %s): scan it again", [input.image.digest, on(s.platform), s.db_built, v.database])
}

fix(f) := sprintf("fixed in %s", [concat(", ", f.fixed_in)]) if {
	f.has_fix
} else := "no fix yet"

deny contains msg if {
	policy != null
	some s in v.scans
	some f in s.findings
	f.suppressed == ""
	some id in policy.deny_ids
	upper(id) == upper(f.id)
	msg := sprintf("%s: %s (%s, %s %s, %s)%s is denied in %s by id: upgrade the package and rebuild, or suppress it with a signed VEX statement or a waiver", [input.image.digest, f.id, f.severity, f.package, f.version, fix(f), on(s.platform), input.environment])
}

deny contains msg if {
	policy != null
	policy.deny_rank > 0
	some s in v.scans
	some f in s.findings
	f.suppressed == ""
	f.rank >= policy.deny_rank
	fixable(f)
	msg := sprintf("%s: %s (%s, %s %s, %s)%s: %s denies %s and above%s: upgrade the package and rebuild, or suppress it with a signed VEX statement or a waiver", [input.image.digest, f.id, f.severity, f.package, f.version, fix(f), on(s.platform), input.environment, policy.deny_severity, only_fixed_note])
}

fixable(f) if not policy.only_fixed

fixable(f) if {
	policy.only_fixed
	f.has_fix
}

only_fixed_note := " with a fix" if {
	policy.only_fixed
} else := ""
