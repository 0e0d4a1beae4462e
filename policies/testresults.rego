# What the tested and tested_in policies share: the digest's verified test
# results, which of several is the newest, and durations for people. A
# package below bakery.<name> is not a policy (bakery queries
# data.bakery.<name>.deny only), so this one is a library, not listed.
package bakery.lib.testresults

# results is input.tests, or [] when it is absent.
results := input.tests if {
	is_array(input.tests)
} else := []

# rank orders verdicts from best to worst; anything else is worse than FAILED.
rank(r) := object.get({"PASSED": 0, "WARNED": 1, "FAILED": 2}, r.result, 3)

readable(r) if time.parse_rfc3339_ns(r.finished)

# newest is the result of rs that finished last; of results that finished at
# the same instant, the worst verdict wins, so a tie never favours PASSED.
newest(rs) := r if {
	last := max({ns | some x in rs; ns := time.parse_rfc3339_ns(x.finished)})
	at := [x | some x in rs; time.parse_rfc3339_ns(x.finished) == last]
	worst := max({rank(x) | some x in at})
	r := sort([x | some x in at; rank(x) == worst])[0]
}

# unreadable holds a message for each result whose finished time is not RFC
# 3339: while one may be the newest, no result can be called the newest.
unreadable contains msg if {
	some r in results
	not readable(r)
	msg := sprintf("%s: a result of suite %s finished at %q, which is not an RFC 3339 time, so the newest result cannot be told", [input.image.digest, r.suite, r.finished])
}

# duration says s seconds in the two largest units that matter (45s, 12m,
# 1h 5m, 2d 3h), rounded up from a minute on, so nothing is "0m left".
duration(s) := sprintf("%ds", [s]) if s < 60

duration(s) := units(ceil(s / 60)) if s >= 60

units(m) := sprintf("%dm", [m]) if m < 60

units(m) := pair(floor(m / 60), "h", m % 60, "m") if {
	m >= 60
	m < 1440
}

units(m) := pair(floor(m / 1440), "d", floor((m % 1440) / 60), "h") if m >= 1440

pair(a, ua, b, _) := sprintf("%d%s", [a, ua]) if b == 0

pair(a, ua, b, ub) := sprintf("%d%s %d%s", [a, ua, b, ub]) if b != 0
