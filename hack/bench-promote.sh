#!/usr/bin/env bash
# bench-promote.sh measures one promotion of the example golden image across
# registries (127.0.0.1:5000 → :5001) against `crane copy` of the same digest,
# alternating, and counts the requests of a first promotion and of the same
# promotion again (already promoted) through the counting proxy. Figures go
# to .bakery/bench/promote-*; BENCHMARKS.md quotes them. Run by
# hack/bench.sh (BENCH_ONLY=promote make bench), or alone. BAKERY_BIN picks
# another bakery binary (an A/B against an older build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
BAKERY=${BAKERY_BIN:-$OUT/bakery}
[ -n "${BAKERY_BIN:-}" ] || (cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core)
(cd "$ROOT" && go build -o "$OUT/countproxy" ./hack/countproxy)
build_crane
export BAKERY_SIGNING_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$BAKERY" keys generate --output-prefix "$OUT/bench" >/dev/null
REGISTRY2_ADDR=${BAKERY_REGISTRY2_ADDR:-127.0.0.1:5001}
stamp=$(date +%s%N)
common=(BAKERY_SIGNING_KEY="$OUT/bench.key" BAKERY_VERIFICATION_KEYS="$OUT/bench.pub")
prefix=$REGISTRY_ADDR/bench/promote
src=$prefix/golden-base
if ! digest=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REGISTRY_ADDR/v2/bench/promote/golden-base/manifests/dev" 2>/dev/null \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}') || [ -z "$digest" ]; then
  log "building the golden image into $src"
  env "${common[@]}" BAKERY_BUILDER_ADDRESS="unix://$BUILDKIT_SOCK" BAKERY_ENVIRONMENTS_DEV_REPOSITORY="$prefix" \
    "$BAKERY" build golden-base --config "$ROOT/examples/bakery.yaml" --progress quiet >/dev/null
fi
digest=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REGISTRY_ADDR/v2/bench/promote/golden-base/manifests/dev" \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
[ -n "$digest" ] || die "no digest at $src:dev"

log "promotion of $src@$digest to $REGISTRY2_ADDR: bakery promote vs crane copy, $RUNS runs each, alternating"
: >"$OUT/promote.tsv"
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "crane copy\t%e\t%M" -a -o "$OUT/promote.tsv" "$CRANE" copy --insecure "$src@$digest" "$REGISTRY2_ADDR/bench/crane-$stamp-$i/golden-base" >/dev/null 2>&1
  /usr/bin/time -f "bakery promote\t%e\t%M" -a -o "$OUT/promote.tsv" env "${common[@]}" \
    BAKERY_ENVIRONMENTS_DEV_REPOSITORY="$prefix" BAKERY_ENVIRONMENTS_STAGING_REPOSITORY="$REGISTRY2_ADDR/bench/bakery-$stamp-$i" \
    BAKERY_ENVIRONMENTS_STAGING_POLICIES=signed,sbom,provenance \
    "$BAKERY" promote golden-base --to staging --digest "$digest" --config "$ROOT/examples/bakery.yaml" >/dev/null
done
awk -F'\t' '{n[$1]++; s[$1]+=$2; t[$1]=t[$1]" "$2; if ($3>m[$1]) m[$1]=$3}
  END {for (k in n) printf "%-15s mean %.2f s (runs:%s)  peak RSS %.0f MiB\n", k, s[k]/n[k], t[k], m[k]/1024}' "$OUT/promote.tsv" | sort | tee "$OUT/promote.txt"

PROXY=127.0.0.1:5102
"$OUT/countproxy" --listen "$PROXY" --target "http://$REGISTRY_ADDR" >"$OUT/countproxy.log" 2>&1 &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$PROXY/_count" && break; sleep 0.1; done
log "promotion within one registry, through a counting proxy in front of $REGISTRY_ADDR"
: >"$OUT/promote-counts.txt"
for phase in first-promotion already-present; do
  curl -fsS -X POST "http://$PROXY/_count/reset" >/dev/null
  env "${common[@]}" BAKERY_ENVIRONMENTS_DEV_REPOSITORY="$PROXY/bench/promote" \
    BAKERY_ENVIRONMENTS_STAGING_REPOSITORY="$PROXY/bench/mount-$stamp" BAKERY_ENVIRONMENTS_STAGING_POLICIES=signed,sbom,provenance \
    "$BAKERY" promote golden-base --to staging --digest "$digest" --config "$ROOT/examples/bakery.yaml" -o json >"$OUT/promote-$phase.json"
  echo "$phase: $(curl -fsS "http://$PROXY/_count") alreadyPromoted: $(jq -c .alreadyPromoted "$OUT/promote-$phase.json")" | tee -a "$OUT/promote-counts.txt"
done
