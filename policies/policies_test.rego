# opa test policies/  — every shipped policy passes a good input and denies a bad one.
package bakery_test

import data.bakery

good := {
	"image": {"reference": "r/app@sha256:aa", "digest": "sha256:aa"},
	"target": "app",
	"environment": "prod",
	"previous_environment": "staging",
	"accept_direct": false,
	"signatures": [{"key_id": "k1"}],
	"sbom": {"present": true, "packages": [{"name": "bash", "version": "5.2", "licenses": ["GPL-3.0-or-later"]}], "by_license": {"GPL-3.0-or-later": ["bash 5.2"]}, "by_name": {"bash": ["5.2"]}},
	"provenance": {"builder_id": "https://ci.example"},
	"receipts": [{"target": "app", "repository": "r/staging/app", "environment": "staging", "digest": "sha256:aa", "result": "PASSED"}],
	"config": {"allowed_builders": ["https://ci.example"], "license_denylist": ["AGPL-3.0-only"], "package_denylist": ["telnetd"]},
}

test_good_passes if {
	count(bakery.signed.deny) == 0 with input as good
	count(bakery.sbom.deny) == 0 with input as good
	count(bakery.provenance.deny) == 0 with input as good
	count(bakery.promoted_through.deny) == 0 with input as good
	count(bakery.license_denylist.deny) == 0 with input as good
	count(bakery.package_denylist.deny) == 0 with input as good
	count(bakery.not_revoked.deny) == 0 with input as good
	count(bakery.not_revoked.deny) == 0 with input as object.union(good, {"revoked": {"revoked": false}})
}

test_revoked_denied if {
	count(bakery.not_revoked.deny) == 1 with input as object.union(good, {"revoked": {"revoked": true, "reason": "CVE", "by": "ops", "effective_at": "t"}})
}

test_revoked_base_denied_naming_it if {
	denials := bakery.not_revoked.deny with input as object.union(good, {"revoked": {"revoked": true, "reason": "CVE", "by": "ops", "effective_at": "t", "cause": "sha256:base"}})
	count(denials) == 1
	some msg in denials
	contains(msg, "built on sha256:base")
}

test_unsigned_denied if {
	count(bakery.signed.deny) == 1 with input as object.union(good, {"signatures": []})
}

test_no_sbom_denied if {
	count(bakery.sbom.deny) == 1 with input as object.union(good, {"sbom": {"present": false, "packages": []}})
}

test_builder_denied if {
	count(bakery.provenance.deny) == 1 with input as object.union(good, {"provenance": {"builder_id": "https://evil.example"}})
}

test_no_receipt_denied if {
	count(bakery.promoted_through.deny) == 1 with input as object.union(good, {"receipts": []})
}

test_receipt_of_another_target_denied if {
	other := [{"target": "other", "repository": "r/staging/other", "environment": "staging", "digest": "sha256:aa", "result": "PASSED"}]
	count(bakery.promoted_through.deny) == 1 with input as object.union(good, {"receipts": other})
}

test_direct_accepted if {
	count(bakery.promoted_through.deny) == 0 with input as object.union(good, {"receipts": [], "accept_direct": true})
}

test_agpl_denied if {
	bad := object.union(good, {"sbom": {"present": true, "packages": [{"name": "x", "version": "1", "licenses": ["AGPL-3.0-only"]}], "by_license": {"AGPL-3.0-only": ["x 1"]}, "by_name": {"x": ["1"]}}})
	count(bakery.license_denylist.deny) == 1 with input as bad
}

test_package_denied if {
	bad := object.union(good, {"sbom": {"present": true, "packages": [{"name": "telnetd", "version": "1", "licenses": []}], "by_license": {}, "by_name": {"telnetd": ["1"]}}})
	count(bakery.package_denylist.deny) == 1 with input as bad
}

# tested and tested_in: the newest result counts, per suite and platform
# (tested) or per suite in an environment (tested_in).
tested := object.union(good, {
	"image": {"reference": "r/app@sha256:aa", "digest": "sha256:aa", "platforms": ["linux/amd64", "linux/arm64"]},
	"config": {"tests": ["structure"]},
	"tests": [
		{"suite": "structure", "platform": "linux/amd64", "environment": "", "result": "PASSED", "finished": "2026-01-01T10:00:00Z", "age_seconds": 7200},
		{"suite": "structure", "platform": "linux/arm64", "environment": "", "result": "PASSED", "finished": "2026-01-01T10:00:00Z", "age_seconds": 7200},
		{"suite": "smoke", "platform": "", "environment": "staging", "result": "PASSED", "finished": "2026-01-01T11:00:00Z", "age_seconds": 3600},
	],
	"tested_in": {"environment": "staging", "suites": ["smoke"], "soak_seconds": 1800},
})

with_test(r) := object.union(tested, {"tests": array.concat(tested.tests, [r])})

test_tested_passes if {
	count(bakery.tested.deny) == 0 with input as tested
	count(bakery.tested_in.deny) == 0 with input as tested
}

test_tested_newer_failed_withdraws if {
	failed := {"suite": "structure", "platform": "linux/arm64", "environment": "staging", "result": "FAILED", "finished": "2026-01-01T11:00:00Z", "age_seconds": 3600}
	count(bakery.tested.deny) == 1 with input as with_test(failed)
}

test_tested_older_failed_then_passed if {
	failed := {"suite": "structure", "platform": "linux/arm64", "environment": "", "result": "FAILED", "finished": "2026-01-01T09:00:00Z", "age_seconds": 10800}
	count(bakery.tested.deny) == 0 with input as with_test(failed)
}

test_tested_whole_image_result_is_no_platform if {
	doc := object.union(tested, {"tests": [
		tested.tests[0],
		object.union(tested.tests[1], {"platform": ""}),
	]})
	denials := bakery.tested.deny with input as doc
	count(denials) == 1
	some msg in denials
	contains(msg, "no result of suite structure on linux/arm64")
}

test_tested_in_soak_not_elapsed if {
	denials := bakery.tested_in.deny with input as object.union(tested, {"tested_in": {"environment": "staging", "suites": ["smoke"], "soak_seconds": 7200}})
	count(denials) == 1
	some msg in denials
	contains(msg, "prod requires 2h of soak: 1h left")
}

test_tested_in_newer_failed_withdraws if {
	failed := {"suite": "smoke", "platform": "", "environment": "staging", "result": "FAILED", "finished": "2026-01-01T11:30:00Z", "age_seconds": 1800}
	count(bakery.tested_in.deny) == 1 with input as with_test(failed)
}

test_tested_in_other_environment_does_not_count if {
	doc := object.union(tested, {"tested_in": {"environment": "qa", "suites": ["smoke"], "soak_seconds": 0}})
	count(bakery.tested_in.deny) == 1 with input as doc
}

test_tested_in_null_requires_nothing if {
	count(bakery.tested_in.deny) == 0 with input as object.union(tested, {"tested_in": null, "tests": []})
}
