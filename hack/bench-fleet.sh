#!/usr/bin/env bash
# bench-fleet.sh measures many targets at once, on the local registry through
# the counting proxy (BENCH_ONLY=fleet make bench, or alone):
#   - bakery build of N = 1, 4, 16, 32 fresh targets (each a Debian image with
#     a file of its own, attested in full) on the one local buildkitd;
#   - 32 targets on one node of hack/fleet.sh's fleet against both nodes;
#   - promote --all --to staging of 32 targets against 32 separate promotes,
#     one after another (the same kind of targets, built the same way).
# Every build uses fresh content (a stamp), so no run is a cache hit. Figures
# go to .bakery/bench/fleet*; BENCHMARKS.md and docs/scale.md quote them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
SIZES=${BENCH_SIZES:-1 4 16 32}
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core && go build -o "$OUT/countproxy" ./hack/countproxy)
bash "$ROOT/hack/fleet.sh" up
export BAKERY_SIGNING_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null

PROXY=127.0.0.1:5104
"$OUT/countproxy" --listen "$PROXY" --target "http://$REGISTRY_ADDR" >"$OUT/fleet-proxy.log" 2>&1 &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$PROXY/_count" && break; sleep 0.1; done
CERTS=$STATE/fleet/certs

# project NAME N BUILDER: a project of N targets and its builder section.
project() {
  local name=$1 n=$2 builder=$3 stamp; stamp=$(date +%s%N)
  local p=$OUT/fleet-$name; rm -rf "$p"; mkdir -p "$p"
  {
    printf 'version: 1\n%s\ntargets:\n' "$builder"
    for i in $(seq -w 1 "$n"); do
      printf '  t%s:\n    type: container\n    context: t%s\n    args:\n      BASE: %s\n' "$i" "$i" "$BASE_IMAGE"
      mkdir -p "$p/t$i"
      printf 'ARG BASE\nFROM ${BASE}\nCOPY id.txt /etc/bakery-bench-id\n' >"$p/t$i/Dockerfile"
      echo "t$i $stamp" >"$p/t$i/id.txt"
    done
    printf 'signing:\n  key: %s\n  builder_id: https://github.com/bakeryhq/bakery/bench\n' "$OUT/bench.key"
    printf 'verification:\n  keys: [%s]\n' "$OUT/bench.pub"
    printf 'policy:\n  allowed_builders: [https://github.com/bakeryhq/bakery/bench]\n'
    printf 'environments:\n'
    printf '  - name: dev\n    repository: %s/bench/fleet-%s/dev\n    insecure: true\n' "$PROXY" "$stamp"
    printf '  - name: staging\n    repository: %s/bench/fleet-%s/staging\n    insecure: true\n' "$PROXY" "$stamp"
    printf '    policies: [signed, sbom, provenance, promoted_through]\n'
  } >"$p/bakery.yaml"
  echo "$p/bakery.yaml"
}
node() { # node NAME ADDR
  printf '    - name: %s\n      address: tcp://%s\n      max_parallel: 2\n      tls: {ca_cert: %s/ca.pem, cert: %s/client.pem, key: %s/client-key.pem}\n' \
    "$1" "$2" "$CERTS" "$CERTS" "$CERTS"
}
LOCAL="builder:
  address: unix://$BUILDKIT_SOCK
  max_parallel: 2"
ONE="builder:
  nodes:
$(node node1 "${BAKERY_NODE1_ADDR:-127.0.0.1:1241}")"
TWO="$ONE
$(node node2 "${BAKERY_NODE2_ADDR:-127.0.0.1:1242}")"

# measure LABEL CMD...: wall seconds, user+sys CPU seconds, registry requests.
measure() {
  local label=$1; shift
  curl -fsS -X POST "http://$PROXY/_count/reset" >/dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/fleet-time.tmp" "$@" >/dev/null 2>"$OUT/fleet-last.err" || { cat "$OUT/fleet-last.err" >&2; die "$label failed"; }
  read -r wall user sys <"$OUT/fleet-time.tmp"
  printf '| %s | %s | %.1f | %s |\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" "$(curl -fsS "http://$PROXY/_count" | jq .requests)" | tee -a "$OUT/fleet.md"
}
command -v bc >/dev/null || { apt-get update -q && apt-get install -y -q bc; }

printf '| run | wall s | CPU s (user+sys) | registry requests |\n|---|---:|---:|---:|\n' >"$OUT/fleet.md"
unset BAKERY_BUILDER_ADDRESS
for n in $SIZES; do
  cfg=$(project "local-$n" "$n" "$LOCAL")
  log "build of $n targets on the local buildkitd"
  measure "build, $n targets, one node (local, max_parallel 2)" "$OUT/bakery" build --config "$cfg" --progress quiet
done
cfg1=$(project one-32 32 "$ONE")
log "32 targets on node1 alone"
measure "build, 32 targets, fleet of one node (node1, max_parallel 2)" "$OUT/bakery" build --config "$cfg1" --progress quiet
cfg2=$(project two-32 32 "$TWO")
log "32 targets on node1 and node2"
measure "build, 32 targets, fleet of two nodes (max_parallel 2 each)" "$OUT/bakery" build --config "$cfg2" --progress quiet -o json
log "promote --all --to staging of 32 targets, and 32 separate promotes"
measure "promote --all --to staging, 32 targets (--parallel 4)" "$OUT/bakery" promote --all --to staging --config "$cfg2"
separate() { for i in $(seq -w 1 32); do "$OUT/bakery" promote "t$i" --to staging --config "$cfg1" >/dev/null || return 1; done; }
export -f separate; export OUT cfg1
measure "32 separate promotes to staging, one after another" bash -c separate
cat "$OUT/fleet.md"
