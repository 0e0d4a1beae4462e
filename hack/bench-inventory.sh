#!/usr/bin/env bash
# bench-inventory.sh measures the read side at scale, on the local registry
# through the counting proxy: 20 targets (each a Debian image with its full
# SBOM) built into dev and promoted to staging and prod with promote --all,
# then `bakery find`, `bakery status --check` and `bakery report` over the
# 20 x 3 (wall time with hyperfine, registry requests per run). Figures go to
# .bakery/bench/inventory*; BENCHMARKS.md quotes them. Run by hack/bench.sh,
# or alone: BENCH_ONLY=inventory make bench.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
N=${BENCH_TARGETS:-20}
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core && go build -o "$OUT/countproxy" ./hack/countproxy)
export BAKERY_SIGNING_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null

PROXY=127.0.0.1:5103
"$OUT/countproxy" --listen "$PROXY" --target "http://$REGISTRY_ADDR" >"$OUT/inventory-proxy.log" 2>&1 &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$PROXY/_count" && break; sleep 0.1; done

stamp=$(date +%s)
P=$OUT/inventory-project; rm -rf "$P"; mkdir -p "$P"
{
  printf 'version: 1\nbuilder:\n  max_parallel: 2\ntargets:\n'
  for i in $(seq -w 1 "$N"); do
    printf '  t%s:\n    type: container\n    context: t%s\n    args:\n      BASE: %s\n' "$i" "$i" "$BASE_IMAGE"
    mkdir -p "$P/t$i"
    printf 'ARG BASE\nFROM ${BASE}\nCOPY id.txt /etc/bakery-bench-id\n' >"$P/t$i/Dockerfile"
    echo "t$i $stamp" >"$P/t$i/id.txt"
  done
  printf 'signing:\n  key: %s\n  builder_id: https://github.com/bakeryhq/bakery/bench\n' "$OUT/bench.key"
  printf 'verification:\n  keys: [%s]\n' "$OUT/bench.pub"
  printf 'policy:\n  allowed_builders: [https://github.com/bakeryhq/bakery/bench]\n'
  printf 'environments:\n'
  for e in dev staging prod; do
    printf '  - name: %s\n    repository: %s/bench/inv-%s/%s\n    insecure: true\n' "$e" "$PROXY" "$stamp" "$e"
    [ "$e" = dev ] || printf '    policies: [signed, sbom, provenance, promoted_through]\n'
  done
} >"$P/bakery.yaml"

export BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK
B=("$OUT/bakery" --config "$P/bakery.yaml")
log "building $N targets into dev"
/usr/bin/time -f "build %e s" -o "$OUT/inventory-times.txt" "${B[@]}" build --progress quiet >/dev/null
for env in staging prod; do
  log "promote --all --to $env ($N targets, --parallel 4)"
  curl -fsS -X POST "http://$PROXY/_count/reset" >/dev/null
  /usr/bin/time -f "promote --all --to $env: %e s" -a -o "$OUT/inventory-times.txt" "${B[@]}" promote --all --to "$env" -o json >"$OUT/inventory-promote-$env.json"
  echo "promote --all --to $env requests: $(curl -fsS "http://$PROXY/_count" | jq .requests)" >>"$OUT/inventory-times.txt"
done

count_one() { # requests of one run of "$@"
  curl -fsS -X POST "http://$PROXY/_count/reset" >/dev/null
  "$@" >/dev/null 2>&1 || true
  curl -fsS "http://$PROXY/_count" | jq .requests
}
{
  echo "find base-files requests per run: $(count_one "${B[@]}" find base-files -o json)"
  echo "find base-files matches: $("${B[@]}" find base-files -o json | jq length)"
  echo "status --check requests per run: $(count_one "${B[@]}" status --check)"
  echo "status rows: $("${B[@]}" status -o json | jq length)"
  echo "report requests per run: $(count_one "${B[@]}" report --out "$OUT/inventory-report")"
} | tee -a "$OUT/inventory-times.txt"
log "find, status --check and report over $N targets x 3 environments, $RUNS runs each"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/inventory.md" --export-json "$OUT/inventory.json" \
  -n "bakery find base-files ($N x 3)" "${B[*]} find base-files -o json" \
  -n "bakery status --check ($N x 3)" "${B[*]} status --check" \
  -n "bakery report ($N x 3)" "${B[*]} report --out $OUT/inventory-report"
cat "$OUT/inventory-times.txt" "$OUT/inventory.md"
