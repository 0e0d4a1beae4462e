#!/usr/bin/env bash
# make fuzz: every Go fuzz target of a parser of untrusted input, each for
# FUZZTIME (default 30s). make test does not fuzz: `go test ./...` runs every
# target's seeds (f.Add and the package's testdata/fuzz) as ordinary tests,
# without rebuilding the package with coverage instrumentation. A failure
# here leaves its input in testdata/fuzz, which go test then replays.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
FUZZTIME=${FUZZTIME:-30s}
targets=(
  "./internal/config FuzzConfig"
  "./attest FuzzStatement"
  "./attest/sbom FuzzPackageTable"
  "./attest FuzzProvenance"
  "./receipt FuzzRead"
  "./bundle FuzzOpen"
  "./promote FuzzSPDXPackages"
  "./machineimage FuzzRecord"
  "./machineimage FuzzParseAMIs"
  "./promote/amis/ec2local FuzzQuery"
  "./imagetest FuzzLoadSuite"
)
# Go before 1.27 can fail a target with a bare "context deadline exceeded"
# when -fuzztime ends while a worker is mid-call (golang/go#75804; fixed in
# Go 1.27). Such a run wrote no failing input; it counts only after the
# target's corpus replays cleanly. A real finding writes its input to
# testdata/fuzz and fails, as does any other error.
out=$(mktemp); trap 'rm -f "$out"' EXIT
for t in "${targets[@]}"; do
  set -- $t
  log "fuzzing $1 $2 for $FUZZTIME"
  if go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1 | tee "$out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    continue
  fi
  if grep -q 'context deadline exceeded' "$out" && ! grep -qE 'Failing input written|panic:' "$out"; then
    log "$2: the fuzz engine's end-of-time race (golang/go#75804), no failing input written; replaying its corpus"
    go test -count=1 -run "^$2\$" "$1" || die "$2: the corpus replay failed"
    continue
  fi
  die "$2 failed: see its failing input under $1/testdata/fuzz/$2"
done
log "fuzzed ${#targets[@]} targets"
