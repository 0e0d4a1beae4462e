#!/usr/bin/env bash
# bench-gc.sh measures bakery gc over 20 targets x 3 environments x 10
# builds on the local registry, every command addressing it through the
# counting proxy (hack/countproxy), against the
# least a stock tool must do to delete the same manifests by hand (crane).
# hack/benchgc generates two identical-in-shape prefixes (random images,
# real SBOMs, provenance, signatures and receipts; every second build
# promoted to staging, every fourth to prod; rollback_window 3, min_age 0),
# then:
#  (a) `bakery gc` (the plan): wall time (hyperfine, read-only, so repeated),
#      and one more run for peak RSS and registry requests;
#  (b) `bakery gc --yes` on prefix A: time, peak RSS, requests, manifests
#      deleted (one run: it deletes);
#  (c) `bakery gc` again on A: it should plan nothing; time, requests;
#  (d) the stock baseline on prefix B: `crane ls` of each of its 60
#      repositories, then `crane delete` of each manifest digest bakery's
#      plan of B lists, in the plan's order (attachments first), one
#      process after another, through the same proxy;
#  (e) the registry's disk bytes (du -sb of its data directory, the whole
#      registry: other repositories and whoever else pushes meanwhile
#      included) before generating, before gc, after both deletions, and
#      after the registry's own garbage collection. That needs the
#      registry stopped: it is stopped by its pid file, `docker-registry
#      garbage-collect` runs WITHOUT --delete-untagged (in distribution
#      2.8 that flag also deletes the untagged platform manifests of every
#      multi-platform index, and any image pushed by digest, in every
#      repository of the shared registry), and it is started again as
#      hack/setup.sh's start_registry starts it. BENCH_GC_REGISTRY_GC=0
#      skips (e) for a registry others are using.
# Figures go to .bakery/bench/gc*; BENCHMARKS.md quotes them. Run by
# hack/bench.sh (BENCH_ONLY=gc make bench), or alone. BAKERY_BIN picks
# another bakery binary (an A/B against an older build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
BAKERY=${BAKERY_BIN:-$OUT/bakery}
[ -n "${BAKERY_BIN:-}" ] || (cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core)
(cd "$ROOT" && go build -o "$OUT/countproxy" ./hack/countproxy && go build -o "$OUT/benchgc" ./hack/benchgc)
build_crane
export BAKERY_SIGNING_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$BAKERY" keys generate --output-prefix "$OUT/bench" >/dev/null
registry_up || die "no registry on $REGISTRY_ADDR: make up"

PROXY=127.0.0.1:5104
"$OUT/countproxy" --listen "$PROXY" --target "http://$REGISTRY_ADDR" >"$OUT/gc-proxy.log" 2>&1 &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$PROXY/_count" && break; sleep 0.1; done
reset() { curl -fsS -X POST "http://$PROXY/_count/reset" >/dev/null; }
requests() { curl -fsS "http://$PROXY/_count" | jq .requests; }
DATA=$(cd -P "$STATE/registry/data" && pwd)
disk() { du -sb "$DATA" | cut -f1; }
# dryrun LABEL: what the registry's garbage collection would delete now, from
# a dry run while the registry serves (it deletes nothing): the blobs and
# their data bytes (du also counts each blob's directory, 4096 B, which for
# blobs this small is most of what it frees).
dryrun() {
  docker-registry garbage-collect --dry-run "$STATE/registry/config.yml" >"$OUT/gc-registry-dry.log" 2>&1 || die "garbage-collect --dry-run failed; see $OUT/gc-registry-dry.log"
  local eligible d h f n=0 bytes=0
  eligible=$(awk '/blob eligible for deletion/ {print $NF}' "$OUT/gc-registry-dry.log")
  for d in $eligible; do
    h=${d#sha256:}
    f=$DATA/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data
    n=$((n + 1))
    [ -f "$f" ] && bytes=$((bytes + $(stat -c %s "$f")))
  done
  echo "garbage-collect --dry-run $1: $n blobs eligible, $bytes bytes of blob data" | tee -a "$T"
}

stamp=$(date +%s)
T=$OUT/gc-times.txt; : >"$T"
echo "registry bytes before generating: $(disk)" | tee -a "$T"
for p in a b; do
  dir=$OUT/gc-$p; rm -rf "$dir"; mkdir -p "$dir"
  # Made and read through the proxy: a receipt names the repository it was
  # signed for, so the config must name the registry by the same address
  # (gc reads receipts for another address as none, and keeps no window).
  log "generating prefix $p: 20 targets x 3 environments x 10 builds into $PROXY/bench/gc-$stamp-$p"
  "$OUT/benchgc" -registry "$PROXY" -prefix "bench/gc-$stamp-$p" -key "$OUT/bench.key" -pub "$OUT/bench.pub" \
    -out "$dir" -targets 20 -builds 10 -window 3 -parallel 3 | tee -a "$T"
done
A=$OUT/gc-a; B=$OUT/gc-b
echo "registry bytes before gc: $(disk)" | tee -a "$T"
[ "${BENCH_GC_REGISTRY_GC:-1}" = 0 ] || dryrun "before gc (what others left)"

log "(a) bakery gc (plan) of prefix a, $RUNS runs"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/gc-plan.md" --export-json "$OUT/gc-plan.json" \
  -n "bakery gc (plan, 20 targets x 3 environments x 10 builds)" "$BAKERY gc --config $A/bakery.yaml -o json"
reset
/usr/bin/time -f "%e %M" -o "$OUT/gc-time.tmp" "$BAKERY" gc --config "$A/bakery.yaml" -o json >"$OUT/gc-plan-a.json"
read -r secs rss <"$OUT/gc-time.tmp"
echo "plan: $secs s, peak RSS $((rss / 1024)) MiB, requests $(requests) (bakery counts $(jq .plan.requests "$OUT/gc-plan-a.json")), repositories $(jq '.plan.repositories | length' "$OUT/gc-plan-a.json"), keep $(jq '[.plan.repositories[].keep[]] | length' "$OUT/gc-plan-a.json") digests, delete $(jq .plan.deletions "$OUT/gc-plan-a.json") manifests ($(jq '[.plan.repositories[].delete[] | select(.kind != "attachments")] | length' "$OUT/gc-plan-a.json") images with $(jq '[.plan.repositories[].delete[] | select(.kind == "attachments")] | length' "$OUT/gc-plan-a.json") attachments), $(jq .plan.bytes "$OUT/gc-plan-a.json") bytes" | tee -a "$T"
images=$(jq '[.plan.repositories[].delete[] | select(.kind != "attachments")] | length' "$OUT/gc-plan-a.json")
[ "$images" = 120 ] || log "warning: the plan deletes $images images; the rules say 120 (dev 5, staging 1 per target; see hack/benchgc)"
jq -r '.plan.repositories[] | "\(.environment) \(.keep | length) \([.delete[] | select(.kind != "attachments")] | length)"' "$OUT/gc-plan-a.json" |
  awk '{k[$1]+=$2; d[$1]+=$3} END {for (e in k) printf "  %s: keep %d digests, delete %d images (all targets)\n", e, k[e], d[e]}' | sort | tee -a "$T"

log "(b) bakery gc --yes of prefix a"
reset
/usr/bin/time -f "%e %M" -o "$OUT/gc-time.tmp" "$BAKERY" gc --config "$A/bakery.yaml" --yes -o json >"$OUT/gc-apply-a.json" 2>"$OUT/gc-apply-a.log"
read -r secs rss <"$OUT/gc-time.tmp"
echo "gc --yes: $secs s, peak RSS $((rss / 1024)) MiB, requests $(requests), deleted $(jq .deleted "$OUT/gc-apply-a.json") manifests (planned $(jq .plan.deletions "$OUT/gc-apply-a.json"))" | tee -a "$T"

log "(c) bakery gc again on prefix a"
reset
/usr/bin/time -f "%e %M" -o "$OUT/gc-time.tmp" "$BAKERY" gc --config "$A/bakery.yaml" -o json >"$OUT/gc-again-a.json"
read -r secs rss <"$OUT/gc-time.tmp"
echo "gc again: $secs s, peak RSS $((rss / 1024)) MiB, requests $(requests), plans $(jq .plan.deletions "$OUT/gc-again-a.json") deletions, keep $(jq '[.plan.repositories[].keep[]] | length' "$OUT/gc-again-a.json") digests" | tee -a "$T"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/gc-again.md" --export-json "$OUT/gc-again.json" \
  -n "bakery gc (plan, after gc --yes: nothing to delete)" "$BAKERY gc --config $A/bakery.yaml -o json"

log "(d) stock baseline on prefix b: crane ls of 60 repositories, crane delete of what bakery's plan of b lists"
"$BAKERY" gc --config "$B/bakery.yaml" -o json >"$OUT/gc-plan-b.json"
jq -r '.plan.repositories[].repository' "$OUT/gc-plan-b.json" >"$B/repos.txt"
jq -r '.plan.repositories[] | .repository as $r | .delete[] | "\($r)@\(.digest)"' "$OUT/gc-plan-b.json" >"$B/delete.txt"
cat >"$B/crane-gc.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
while read -r repo; do "$CRANE" ls --insecure "\$repo" >/dev/null; done <"$B/repos.txt"
while read -r ref; do "$CRANE" delete --insecure "\$ref"; done <"$B/delete.txt"
SH
chmod +x "$B/crane-gc.sh"
reset
/usr/bin/time -f "%e %M" -o "$OUT/gc-time.tmp" "$B/crane-gc.sh"
read -r secs rss <"$OUT/gc-time.tmp"
echo "crane ls x $(wc -l <"$B/repos.txt") + crane delete x $(wc -l <"$B/delete.txt"): $secs s, requests $(requests)" | tee -a "$T"
echo "after: bakery gc of prefix b plans $("$BAKERY" gc --config "$B/bakery.yaml" -o json | jq .plan.deletions) deletions" | tee -a "$T"
echo "registry bytes after gc (a) and crane deletes (b): $(disk)" | tee -a "$T"

if [ "${BENCH_GC_REGISTRY_GC:-1}" != 0 ]; then
  log "(e) the registry's own garbage collection (registry stopped)"
  dryrun "after gc (a) and crane deletes (b)"
  pidfile=$STATE/registry/pid
  before=$(disk)
  down=$(date +%s.%N)
  kill "$(cat "$pidfile")"
  for _ in $(seq 1 100); do registry_up || break; sleep 0.1; done
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  rc=0
  /usr/bin/time -f "%e %M" -o "$OUT/gc-time.tmp" docker-registry garbage-collect "$STATE/registry/config.yml" >"$OUT/gc-registry.log" 2>&1 || rc=$?
  # started again as hack/setup.sh's start_registry starts it
  setsid nohup docker-registry serve "$STATE/registry/config.yml" >"$STATE/registry/log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 50); do registry_up && break; sleep 0.2; done
  registry_up || die "the registry did not come back on $REGISTRY_ADDR; see $STATE/registry/log"
  up=$(date +%s.%N)
  [ "$rc" = 0 ] || die "docker-registry garbage-collect failed ($rc); see $OUT/gc-registry.log"
  read -r secs rss <"$OUT/gc-time.tmp"
  echo "docker-registry garbage-collect (no --delete-untagged): $secs s, peak RSS $((rss / 1024)) MiB, blobs eligible for deletion $(grep -c 'blob eligible for deletion' "$OUT/gc-registry.log" || true), registry down $(awk -v a="$down" -v b="$up" 'BEGIN {printf "%.1f", b - a}') s" | tee -a "$T"
  after=$(disk)
  echo "registry bytes: $before before its garbage collection, $after after (freed $((before - after)))" | tee -a "$T"
  for env in dev staging prod; do
    repo=$(jq -r --arg e "$env" '[.plan.repositories[] | select(.environment == $e)][0].repository' "$OUT/gc-plan-a.json")
    "$BAKERY" verify --config "$A/bakery.yaml" "$repo:$env" >/dev/null || die "$repo:$env no longer verifies"
  done
  echo "after it: dev, staging and prod of t01 in prefix a still verify" | tee -a "$T"
fi
cat "$T" "$OUT/gc-plan.md" "$OUT/gc-again.md"
