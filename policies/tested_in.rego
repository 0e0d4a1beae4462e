# Tested in: when the environment sets tested_in, each suite it lists has a
# result of this digest from tested_in.environment (any platform) whose
# newest is PASSED and at least tested_in.soak_seconds old. A later FAILED
# withdraws an earlier PASSED; results from other environments do not count.
package bakery.tested_in

import data.bakery.lib.testresults as tr

required := input.tested_in if is_object(input.tested_in)

suites := required.suites if {
	is_array(required.suites)
} else := []

# counted are the results of suite from the environment tested_in names.
counted(suite) := [r | some r in tr.results; r.suite == suite; r.environment == required.environment]

deny contains msg if {
	required
	count(suites) == 0
	msg := sprintf("%s: %s's tested_in names no suites: list them in tested_in.suites in bakery.yaml", [input.image.digest, input.environment])
}

deny contains msg if {
	some suite in suites
	count(counted(suite)) == 0
	msg := sprintf("%s has no result of suite %s in %s, which %s requires: once %s runs it, run `bakery test %s --env %s` (or record tests run elsewhere with `--suite %s --junit FILE`)", [input.image.digest, suite, required.environment, input.environment, required.environment, input.target, required.environment, suite])
}

deny contains msg if {
	some suite in suites
	r := tr.newest(counted(suite))
	r.result != "PASSED"
	msg := sprintf("%s: the newest result of suite %s in %s is %s (finished %s); %s requires PASSED: fix the image and build it again, or run `bakery test %s --env %s` again", [input.image.digest, suite, required.environment, r.result, r.finished, input.environment, input.target, required.environment])
}

deny contains msg if {
	some suite in suites
	r := tr.newest(counted(suite))
	r.result == "PASSED"
	r.age_seconds < required.soak_seconds
	msg := sprintf("%s: suite %s PASSED in %s at %s, %s ago; %s requires %s of soak: %s left", [input.image.digest, suite, required.environment, r.finished, tr.duration(r.age_seconds), input.environment, tr.duration(required.soak_seconds), tr.duration(required.soak_seconds - r.age_seconds)])
}

deny contains msg if {
	required
	some msg in tr.unreadable
}
