#!/usr/bin/env bash
# make fuzz: every Go fuzz target of a parser of untrusted input, each for
# FUZZTIME (default 30s; make test runs them for 5s). Seeds are in the targets
# and in each package's testdata/fuzz; a failure leaves its input there.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
FUZZTIME=${FUZZTIME:-30s}
targets=(
  "./internal/config FuzzConfig"
  "./attest FuzzStatement"
  "./attest FuzzPackageTable"
  "./receipt FuzzRead"
  "./promote FuzzSPDXPackages"
  "./machineimage FuzzRecord"
  "./machineimage FuzzParseAMIs"
  "./promote/amis/ec2local FuzzQuery"
)
for t in "${targets[@]}"; do
  set -- $t
  log "fuzzing $1 $2 for $FUZZTIME"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
done
log "fuzzed ${#targets[@]} targets"
