#!/usr/bin/env bash
# bench-sbomcache.sh measures the SBOM layer cache (issue #14 item 3,
# docs/sbom-cache.md): `bakery build app` (the example app on the golden base,
# whose layers the cache holds from the warm-up run) against the stock chain
# building the same app (buildctl build+push → syft scan with the CLI's
# default hashes → cosign sign → cosign attest x3), and against bakery with
# the cache off (hyperfine, BuildKit cache warm for all); then the SBOM alone
# of the app's platform manifest through the cache against the syft CLI, wall
# time and peak RSS (/usr/bin/time). Figures go to .bakery/bench/sbomcache*;
# BENCHMARKS.md quotes them. Run by hack/bench.sh: BENCH_ONLY=sbomcache make bench.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
COSIGN=$CACHE/cosign-$(modversion github.com/sigstore/cosign/v2)/cosign
BUILDCTL=$CACHE/buildkit-$(modversion github.com/moby/buildkit)/buildctl
SYFT=$CACHE/syft-$(modversion github.com/anchore/syft)/syft
[ -x "$SYFT" ] && [ -x "$COSIGN" ] && [ -x "$BUILDCTL" ] || die "run make bench once: it installs syft, cosign and buildctl"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core && go build -o "$OUT/benchsbom" ./hack/benchsbom)
export BAKERY_SIGNING_PASSWORD=bench COSIGN_PASSWORD=bench SYFT_CHECK_FOR_APP_UPDATE=false
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null
CTX=$ROOT/examples/app
APP_BASE=$REGISTRY_ADDR/dev/golden-base:dev
CACHEDIR=$OUT/sbomcache-layers
rm -rf "$CACHEDIR"

cat >"$OUT/sbomcache-stock.sh" <<CHAIN
#!/usr/bin/env bash
set -euo pipefail
repo=$REGISTRY_ADDR/bench/stock/app
"$BUILDCTL" --addr unix://$BUILDKIT_SOCK build --progress quiet --frontend dockerfile.v0 \
  --local context=$CTX --local dockerfile=$CTX --opt build-arg:BASE=$APP_BASE \
  --opt attest:provenance=mode=min,version=v1 \
  --output type=image,name=\$repo,push=true,push-by-digest=true,registry.insecure=true \
  --metadata-file $OUT/sbomcache-buildctl.json
digest=\$(jq -r '."containerimage.digest"' $OUT/sbomcache-buildctl.json)
ref=\$repo@\$digest
"$SYFT" scan -q "registry:\$ref" -o spdx-json=$OUT/sbomcache.spdx.json -o cyclonedx-json=$OUT/sbomcache.cdx.json
"$COSIGN" sign -y --key $OUT/bench.key --tlog-upload=false "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type spdxjson --predicate $OUT/sbomcache.spdx.json "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type cyclonedx --predicate $OUT/sbomcache.cdx.json "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type slsaprovenance1 --predicate $OUT/provenance.json "\$ref" >/dev/null 2>&1
CHAIN
chmod +x "$OUT/sbomcache-stock.sh"
[ -f "$OUT/provenance.json" ] || cat >"$OUT/provenance.json" <<'JSON'
{"buildDefinition":{"buildType":"https://github.com/bakeryhq/bakery/buildtypes/container/v1","externalParameters":{"target":"app"}},"runDetails":{"builder":{"id":"https://github.com/bakeryhq/bakery/bench"}}}
JSON

BAKERY_ENV="BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK BAKERY_SIGNING_KEY=$OUT/bench.key BAKERY_ENVIRONMENTS_DEV_REPOSITORY=$REGISTRY_ADDR/bench/sbomcache"
# The app's BASE is the golden base dev holds (its target:golden-base would
# look in bench/sbomcache), and each run stamps another SOURCE_DATE_EPOCH:
# builds are reproducible, so the same inputs would make the same digest and
# bakery would publish nothing ("unchanged"); the stock chain publishes every time.
BAKERY_ENV="$BAKERY_ENV BAKERY_TARGETS_APP_ARGS_BASE=$APP_BASE"
BAKERY_CMD="$BAKERY_ENV BAKERY_SBOM_CACHE_DIR=$CACHEDIR SOURCE_DATE_EPOCH=\$(date +%s) $OUT/bakery build app --config $ROOT/examples/bakery.yaml --progress quiet"
BAKERY_OFF="$BAKERY_ENV BAKERY_SBOM_CACHE_DIR=off SOURCE_DATE_EPOCH=\$(date +%s) $OUT/bakery build app --config $ROOT/examples/bakery.yaml --progress quiet"
BAKERY_SAME="$BAKERY_ENV BAKERY_SBOM_CACHE_DIR=$CACHEDIR SOURCE_DATE_EPOCH=0 $OUT/bakery build app --config $ROOT/examples/bakery.yaml --progress quiet"
log "bakery build app on a cached golden base vs the stock chain vs bakery without the cache, $RUNS runs each"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/sbomcache.md" --export-json "$OUT/sbomcache.json" \
  -n "bakery build app (SBOM layer cache warm)" "$BAKERY_CMD" \
  -n "stock chain (buildctl, syft, cosign sign, cosign attest x3)" "$OUT/sbomcache-stock.sh" \
  -n "bakery build app (sbom.cache_dir: off)" "$BAKERY_OFF" \
  -n "bakery build app, inputs unchanged (nothing to publish)" "$BAKERY_SAME"
du -sh "$CACHEDIR" | tee "$OUT/sbomcache-du.txt"

# SBOM alone, on the app's platform manifest.
digest=$(jq -r '."containerimage.digest"' "$OUT/sbomcache-buildctl.json")
platform_digest=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://$REGISTRY_ADDR/v2/bench/stock/app/manifests/$digest" \
  | jq -r '.manifests[] | select(.platform.architecture != "unknown") | .digest' | head -n1)
ref=$REGISTRY_ADDR/bench/stock/app@$platform_digest
log "SBOM of $ref: bakery through the warm cache vs the syft CLI, $RUNS runs each"
"$OUT/benchsbom" -cache "$CACHEDIR" "$ref" >/dev/null
: >"$OUT/sbomcache-sbom.tsv"
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "bakery-cached\t%e\t%M" -a -o "$OUT/sbomcache-sbom.tsv" "$OUT/benchsbom" -cache "$CACHEDIR" "$ref" >/dev/null
  /usr/bin/time -f "bakery-nocache\t%e\t%M" -a -o "$OUT/sbomcache-sbom.tsv" "$OUT/benchsbom" "$ref" >/dev/null
  /usr/bin/time -f "syft-cli\t%e\t%M" -a -o "$OUT/sbomcache-sbom.tsv" "$SYFT" scan -q "registry:$ref" \
    -o spdx-json="$OUT/s.spdx.json" -o cyclonedx-json="$OUT/s.cdx.json"
done
awk -F'\t' '{n[$1]++; t[$1]=t[$1]" "$2; if ($3>m[$1]) m[$1]=$3}
  END {for (k in n) printf "%-15s wall seconds:%s  peak RSS: %.0f MiB\n", k, t[k], m[k]/1024}' "$OUT/sbomcache-sbom.tsv" | tee "$OUT/sbomcache-sbom.txt"
cat "$OUT/sbomcache.md"
