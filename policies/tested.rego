# Tested: every suite the target configures that bakery runs itself PASSED
# on every platform of the digest. For each suite and platform only the
# newest result (by finished) counts, so a later FAILED withdraws an earlier
# PASSED. A result about the whole image (platform "") does not stand in for
# a platform. A digest without platforms (a machine image) needs each
# suite's newest result, whatever platform it names. A target that
# configures no suite is denied: there is nothing to call it tested by.
package bakery.tested

import data.bakery.lib.testresults as tr

suites := input.config.tests if {
	is_array(input.config.tests)
} else := []

# required are the platforms each suite must have passed on; [""] stands
# for the whole image.
required := input.image.platforms if {
	is_array(input.image.platforms)
	count(input.image.platforms) > 0
} else := [""]

# counted are the results that count for suite on platform.
counted(suite, "") := [r | some r in tr.results; r.suite == suite]

counted(suite, platform) := [r | some r in tr.results; r.suite == suite; r.platform == platform] if platform != ""

on("") := ""

on(platform) := sprintf(" on %s", [platform]) if platform != ""

deny contains msg if {
	count(suites) == 0
	msg := sprintf("%s: target %s configures no test suite that bakery runs, so nothing shows it was tested: add tests: to %s in bakery.yaml, or take tested out of %s's policies", [input.image.digest, input.target, input.target, input.environment])
}

# retest says how a digest gets a new result: a container image is tested
# again by bakery test; a machine image (no platforms) only inside its packer
# build, by the bakery-test provisioner.
retest := sprintf("run `bakery test %s` to test it (`bakery build %s` tests what it pushes)", [input.target, input.target]) if {
	required != [""]
} else := sprintf("a machine image is tested inside its packer build: `bakery build %s` runs its suites with the bakery-test provisioner", [input.target])

again := sprintf(", or `bakery test %s` to test it again", [input.target]) if {
	required != [""]
} else := ""

deny contains msg if {
	some suite in suites
	some platform in required
	count(counted(suite, platform)) == 0
	msg := sprintf("%s has no result of suite %s%s: %s", [input.image.digest, suite, on(platform), retest])
}

deny contains msg if {
	some suite in suites
	some platform in required
	r := tr.newest(counted(suite, platform))
	r.result != "PASSED"
	msg := sprintf("%s: the newest result of suite %s%s is %s (finished %s); tested requires PASSED: fix the image and run `bakery build %s`%s", [input.image.digest, suite, on(r.platform), r.result, r.finished, input.target, again])
}

deny contains msg if {
	some msg in tr.unreadable
}
