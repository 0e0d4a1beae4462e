#!/usr/bin/env bash
# bench.sh measures, in one run on this machine, bakery against the stock tools:
#  1. `bakery build` of the example golden image with attestations, against the
#     same steps as separate stock tools: buildctl build+push, syft scan (SPDX
#     and CycloneDX in one scan), cosign sign, cosign attest x3 (hyperfine,
#     alternating runs, BuildKit cache warm for both);
#  2. SBOM generation alone: bakery's syft-as-a-library path against the
#     syft CLI on the same image digest (wall time and peak RSS, /usr/bin/time);
#  3. promotion against crane copy, and its requests through a counting proxy
#     (hack/bench-promote.sh; alone: BENCH_ONLY=promote);
#  4. machine images: `bakery build golden-ami` against stock packer baking the
#     same template without bakery's steps, and the machine SBOM alone
#     (bakery-sbom's collect + catalog) against the syft CLI on the baked rootfs.
#  5. find and status --check over 20 targets x 3 environments, and promote
#     --all of 20 targets (hack/bench-inventory.sh);
#  6. builds of 1 to 32 targets, 32 on one fleet node against two, and promote
#     --all of 32 against 32 separate promotes (hack/bench-fleet.sh).
# Figures go to .bakery/bench/; BENCHMARKS.md quotes them. BENCH_ONLY=ami runs
# only part 4, BENCH_ONLY=inventory only part 5, BENCH_ONLY=fleet only part 6
# (many targets, and the fleet of hack/fleet.sh). BENCH_ONLY=large runs, and
# only on demand (about 20 minutes), build + SBOM + promotion of images of
# 128 MiB to 1 GiB against the stock tools (hack/bench-large.sh).
# BENCH_ONLY=sbomcache runs only `bakery build app` on a cached golden base
# (the SBOM layer cache) against the stock chain (hack/bench-sbomcache.sh).
# BENCH_ONLY=test runs only `bakery test golden-base` against the same
# commands run with buildctl (hack/bench-test.sh).
# BENCH_ONLY=scan runs only `bakery scan golden-base` against the stock
# grype CLI on the same SBOM and database (hack/bench-scan.sh).
# BENCH_ONLY=hostile runs only the peak RSS of verify and promote with a
# 200 MiB attestation attached (hack/bench-hostile.sh).
#  7. start-up: `bakery --version` and `bakery status --help` against `crane
#     version`, and where bakery's package inits spend the time
#     (hack/bench-startup.sh; alone, needing no services: BENCH_ONLY=startup).
#  8. gc over 20 targets x 3 environments x 10 builds: plan, --yes and
#     again, requests and time, against crane ls + crane delete of the same
#     manifests, and the registry's disk before and after its own garbage
#     collection (hack/bench-gc.sh; alone: BENCH_ONLY=gc).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ "${BENCH_ONLY:-}" = startup ]; then
  exec bash "$ROOT/hack/bench-startup.sh"
fi
bash "$ROOT/hack/setup.sh"
export DEBIAN_FRONTEND=noninteractive
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time jq; }

OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
BUILDKIT_VER=$(modversion github.com/moby/buildkit)
COSIGN=$CACHE/cosign-$(modversion github.com/sigstore/cosign/v2)/cosign
BUILDCTL=$CACHE/buildkit-$BUILDKIT_VER/buildctl
SYFT_VER=$(modversion github.com/anchore/syft)
SYFT=$CACHE/syft-$SYFT_VER/syft
if [ ! -x "$SYFT" ]; then
  log "building the syft CLI $SYFT_VER from the Go module proxy"
  GOBIN=$(dirname "$SYFT") CGO_ENABLED=0 go install -trimpath "github.com/anchore/syft/cmd/syft@$SYFT_VER"
fi
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core && go build -o "$OUT/packer-plugin-bakery" ./cmd/packer-plugin-bakery \
  && go build -o "$OUT/benchsbom" ./hack/benchsbom)

export BAKERY_SIGNING_PASSWORD=bench COSIGN_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null
export SYFT_CHECK_FOR_APP_UPDATE=false
CTX=$ROOT/examples/golden-base

if [ "${BENCH_ONLY:-}" = inventory ]; then
  exec bash "$ROOT/hack/bench-inventory.sh"
fi
if [ "${BENCH_ONLY:-}" = fleet ]; then
  exec bash "$ROOT/hack/bench-fleet.sh"
fi
if [ "${BENCH_ONLY:-}" = gc ]; then
  exec bash "$ROOT/hack/bench-gc.sh"
fi
if [ "${BENCH_ONLY:-}" = promote ]; then
  exec bash "$ROOT/hack/bench-promote.sh"
fi
if [ "${BENCH_ONLY:-}" = sbomcache ]; then
  exec bash "$ROOT/hack/bench-sbomcache.sh"
fi
if [ "${BENCH_ONLY:-}" = test ]; then
  exec bash "$ROOT/hack/bench-test.sh"
fi
if [ "${BENCH_ONLY:-}" = scan ]; then
  exec bash "$ROOT/hack/bench-scan.sh"
fi
if [ "${BENCH_ONLY:-}" = hostile ]; then
  exec bash "$ROOT/hack/bench-hostile.sh"
fi
if [ "${BENCH_ONLY:-}" = large ]; then
  exec bash "$ROOT/hack/bench-large.sh"
fi
if [ "${BENCH_ONLY:-}" != ami ]; then
# The stock chain, one step per tool, each reading the digest the previous step reported.
cat >"$OUT/stock-chain.sh" <<CHAIN
#!/usr/bin/env bash
set -euo pipefail
repo=$REGISTRY_ADDR/bench/stock/golden-base
"$BUILDCTL" --addr unix://$BUILDKIT_SOCK build --progress quiet --frontend dockerfile.v0 \
  --local context=$CTX --local dockerfile=$CTX --opt build-arg:BASE=$BASE_IMAGE \
  --opt attest:provenance=mode=min,version=v1 \
  --output type=image,name=\$repo,push=true,push-by-digest=true,registry.insecure=true \
  --metadata-file $OUT/buildctl.json
digest=\$(jq -r '."containerimage.digest"' $OUT/buildctl.json)
ref=\$repo@\$digest
"$SYFT" scan -q "registry:\$ref" -o spdx-json=$OUT/sbom.spdx.json -o cyclonedx-json=$OUT/sbom.cdx.json
"$COSIGN" sign -y --key $OUT/bench.key --tlog-upload=false "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type spdxjson --predicate $OUT/sbom.spdx.json "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type cyclonedx --predicate $OUT/sbom.cdx.json "\$ref" >/dev/null 2>&1
"$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type slsaprovenance1 --predicate $OUT/provenance.json "\$ref" >/dev/null 2>&1
CHAIN
chmod +x "$OUT/stock-chain.sh"
cat >"$OUT/provenance.json" <<'JSON'
{"buildDefinition":{"buildType":"https://github.com/bakeryhq/bakery/buildtypes/container/v1","externalParameters":{"target":"golden-base"}},"runDetails":{"builder":{"id":"https://github.com/bakeryhq/bakery/bench"}}}
JSON

# Each run stamps another SOURCE_DATE_EPOCH, so bakery publishes a new
# digest as the stock chain does (the same inputs would be "unchanged").
BAKERY_CMD="BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK BAKERY_SIGNING_KEY=$OUT/bench.key BAKERY_ENVIRONMENTS_DEV_REPOSITORY=$REGISTRY_ADDR/bench/bakery SOURCE_DATE_EPOCH=\$(date +%s) $OUT/bakery build golden-base --config $ROOT/examples/bakery.yaml --progress quiet"
log "end to end: bakery build (attested) vs buildctl + syft + cosign sign + cosign attest x3, $RUNS runs each"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/pipeline.md" --export-json "$OUT/pipeline.json" \
  -n "bakery build (build+push, SBOM, provenance, sign, 3 attestations)" "$BAKERY_CMD" \
  -n "stock chain (buildctl, syft, cosign sign, cosign attest x3)" "$OUT/stock-chain.sh"

# SBOM alone, on the same platform manifest.
digest=$(jq -r '."containerimage.digest"' "$OUT/buildctl.json")
platform_digest=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://$REGISTRY_ADDR/v2/bench/stock/golden-base/manifests/$digest" \
  | jq -r '.manifests[] | select(.platform.architecture != "unknown") | .digest' | head -n1)
ref=$REGISTRY_ADDR/bench/stock/golden-base@$platform_digest
log "SBOM of $ref: bakery (syft as a library) vs the syft CLI, $RUNS runs each"
: >"$OUT/sbom.tsv"
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "bakery\t%e\t%M" -a -o "$OUT/sbom.tsv" "$OUT/benchsbom" "$ref" >/dev/null
  /usr/bin/time -f "syft-cli\t%e\t%M" -a -o "$OUT/sbom.tsv" "$SYFT" scan -q "registry:$ref" \
    -o spdx-json="$OUT/s.spdx.json" -o cyclonedx-json="$OUT/s.cdx.json"
done
awk -F'\t' '{n[$1]++; t[$1]=t[$1]" "$2; if ($3>m[$1]) m[$1]=$3}
  END {for (k in n) printf "%-9s wall seconds:%s  peak RSS: %.0f MiB\n", k, t[k], m[k]/1024}' "$OUT/sbom.tsv" | tee "$OUT/sbom.txt"

# Promotion against crane copy across registries, and its requests within
# one registry, first and already promoted (hack/bench-promote.sh).
BAKERY_BIN=$OUT/bakery bash "$ROOT/hack/bench-promote.sh"

fi

# Machine images. Both sides use the same builder (bakery-chroot from the
# plugin) and the same hardening script; the stock side stops there. The
# local EC2 endpoint make up starts answers RegisterImage for both.
log "machine image: bakery build golden-ami vs packer build without bakery's steps, $RUNS runs each"
export AWS_ENDPOINT_URL=http://$EC2_ADDR AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
PLUGINS=$OUT/packer-plugins
mkdir -p "$OUT/ami-stock" "$OUT/ami-bakery"
PACKER_PLUGIN_PATH=$PLUGINS "$STATE/packer" plugins install --path "$OUT/packer-plugin-bakery" github.com/bakeryhq/bakery >/dev/null
perl -0pe 's/\n[ \t]*provisioner "bakery-sbom" \{[^}]*\}//; s/\n[ \t]*post-processor "bakery" \{[^}]*\}//' "$ROOT/examples/golden-ami/golden-ami.pkr.hcl" |
  sed -e "s|\${path.root}|$ROOT/examples/golden-ami|" >"$OUT/ami-stock/stock.pkr.hcl"
grep -q bakery-sbom "$OUT/ami-stock/stock.pkr.hcl" && die "the stock template still runs bakery-sbom"
STOCK_AMI="cd $OUT/ami-stock && PACKER_PLUGIN_PATH=$PLUGINS CHECKPOINT_DISABLE=1 $STATE/packer build -force -color=false -var source_rootfs=$STATE/rootfs/debian-$DEBIAN_SUITE-minbase-amd64.tar.gz stock.pkr.hcl >/dev/null"
BAKERY_AMI="cd $OUT/ami-bakery && BAKERY_SIGNING_KEY=$OUT/bench.key BAKERY_BUILDER_PACKER_BINARY=$STATE/packer BAKERY_BUILDER_PACKER_PLUGIN_DIR=$PLUGINS \
  BAKERY_ENVIRONMENTS_DEV_REPOSITORY=$REGISTRY_ADDR/bench/bakery-ami $OUT/bakery build golden-ami --config $ROOT/examples/bakery.yaml --progress quiet"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/ami.md" --export-json "$OUT/ami.json" \
  -n "bakery build golden-ami (packer bake + bakery-sbom + record, SBOMs, provenance, signatures, tag)" "$BAKERY_AMI" \
  -n "stock packer build (same builder and hardening, no SBOM, no record, no signature)" "$STOCK_AMI"

log "machine SBOM: bakery-sbom's collect + catalog vs the syft CLI on the whole baked rootfs, $RUNS runs each"
rm -rf "$OUT/ami-rootfs"; mkdir -p "$OUT/ami-rootfs"
tar --numeric-owner -xzf "$ROOT/examples/output-debian/rootfs.tar.gz" -C "$OUT/ami-rootfs"
: >"$OUT/ami-sbom.tsv"
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "bakery-sbom\t%e\t%M" -a -o "$OUT/ami-sbom.tsv" "$OUT/benchsbom" -rootfs "$OUT/ami-rootfs" >"$OUT/ami-sbom-bakery.txt"
  /usr/bin/time -f "syft-cli-dir\t%e\t%M" -a -o "$OUT/ami-sbom.tsv" "$SYFT" scan -q "dir:$OUT/ami-rootfs" \
    -o spdx-json="$OUT/ami.spdx.json" -o cyclonedx-json="$OUT/ami.cdx.json"
done
echo "bakery-sbom packages: $(cat "$OUT/ami-sbom-bakery.txt"); syft CLI deb packages: $(jq '[.packages[] | select(.externalRefs[]?.referenceLocator | startswith("pkg:deb/"))] | length' "$OUT/ami.spdx.json"), all packages: $(jq '.packages | length' "$OUT/ami.spdx.json")" | tee "$OUT/ami-sbom-counts.txt"
awk -F'\t' '{n[$1]++; t[$1]=t[$1]" "$2; if ($3>m[$1]) m[$1]=$3}
  END {for (k in n) printf "%-12s wall seconds:%s  peak RSS: %.0f MiB\n", k, t[k], m[k]/1024}' "$OUT/ami-sbom.tsv" | tee "$OUT/ami-sbom.txt"

if [ "${BENCH_ONLY:-}" = ami ]; then
  cat "$OUT/ami.md" "$OUT/ami-sbom-counts.txt" "$OUT/ami-sbom.txt"
  exit 0
fi
log "Go benchmarks: policy decision latency, copy requests and bytes (counting proxy)"
(cd "$ROOT" && go test -run XXX -bench 'Decision' -benchmem -count 5 ./policies && go test -run XXX -bench 'Copy' -benchtime 20x ./promote && go test -run XXX -bench 'Lineage' -benchtime 20x ./revoke) | tee "$OUT/go-bench.txt"
cat "$OUT/pipeline.md" "$OUT/sbom.txt" "$OUT/promote.txt" "$OUT/promote-counts.txt" "$OUT/ami.md" "$OUT/ami-sbom-counts.txt" "$OUT/ami-sbom.txt"
bash "$ROOT/hack/bench-sbomcache.sh"
bash "$ROOT/hack/bench-test.sh"
bash "$ROOT/hack/bench-scan.sh"
bash "$ROOT/hack/bench-inventory.sh"
bash "$ROOT/hack/bench-fleet.sh"
bash "$ROOT/hack/bench-gc.sh"
BAKERY_BIN=$OUT/bakery bash "$ROOT/hack/bench-startup.sh"
