#!/usr/bin/env bash
# bench-large.sh measures build + SBOM + promotion against image size
# (issue #14 item 5): for each size in BENCH_LARGE_SIZES (MiB; default
# 128 256 512 1024) a target is the Debian base plus one RUN layer that
# hack/benchgen fills with that many MiB of incompressible files (about
# 44,000 files per GiB, 512 B to 128 KiB each). For each size, bakery against
# the stock tools, wall time and peak RSS (/usr/bin/time):
#  1. the first build of the layer (cache miss: generate, compress, push), one
#     run each side, each side with its own seed so both miss the cache (which
#     side goes first alternates from one size to the next);
#  2. builds again with the layer cached, BENCH_LARGE_RUNS runs each,
#     alternating: `bakery build` (build + push, SBOM, provenance, signature,
#     3 attestations) against buildctl build (push by digest) -> syft scan
#     (SPDX + CycloneDX) -> cosign sign -> cosign attest x3; the stock chain's
#     peak RSS is the largest of its steps;
#  3. the SBOM alone: hack/benchsbom (what bakery build calls) against the
#     syft CLI on the same platform manifest;
#  4. bakery promote --digest from 127.0.0.1:5000 into a fresh repository of
#     127.0.0.1:5001 against crane copy of the same digest.
# Raw figures go to .bakery/bench/large.tsv, the summary to large.md;
# BENCHMARKS.md quotes them. Run alone (BENCH_ONLY=large make bench, or bash
# hack/bench-large.sh); not part of a full make bench, which it would
# lengthen by about 20 minutes. At the end the build records of the generated
# layers are pruned from buildkitd; the registries keep their blobs until
# their own garbage collection.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_LARGE_RUNS:-3}
SIZES=${BENCH_LARGE_SIZES:-128 256 512 1024}

BUILDCTL=$CACHE/buildkit-$(modversion github.com/moby/buildkit)/buildctl
COSIGN=$CACHE/cosign-$(modversion github.com/sigstore/cosign/v2)/cosign
SYFT_VER=$(modversion github.com/anchore/syft)
SYFT=$CACHE/syft-$SYFT_VER/syft
if [ ! -x "$SYFT" ]; then
  log "building the syft CLI $SYFT_VER from the Go module proxy"
  GOBIN=$(dirname "$SYFT") CGO_ENABLED=0 go install -trimpath "github.com/anchore/syft/cmd/syft@$SYFT_VER"
fi
build_crane
for tool in "$BUILDCTL" "$COSIGN" "$SYFT" "$CRANE"; do [ -x "$tool" ] || die "$tool is missing: run make up (hack/setup.sh) first"; done

# Everything this run writes outside the registries and buildkitd lives in $T,
# its binaries and syft's and stereoscope's unpacked layers too (TMPDIR), and
# goes at exit.
T=$(mktemp -d "${TMPDIR:-/tmp}/bakery-bench-large.XXXXXX")
mkdir -p "$T/tmp"
cleanup() {
  rm -rf "$T"
  "$BUILDCTL" --addr "unix://$BUILDKIT_SOCK" prune --filter 'description~=benchgen' >/dev/null 2>&1 || true
}
trap cleanup EXIT
# bakery, benchsbom and benchgen from the working tree, or with BENCH_REV=REV
# from that commit (git archive), so that uncommitted work in the tree does
# not end up in the figures.
SRC=$ROOT
if [ -n "${BENCH_REV:-}" ]; then
  SRC=$T/src; mkdir -p "$SRC"
  git -C "$ROOT" archive "$BENCH_REV" | tar -x -C "$SRC"
fi
log "bakery from $([ -n "${BENCH_REV:-}" ] && git -C "$ROOT" rev-parse --short "$BENCH_REV" || echo "the working tree ($(git -C "$ROOT" describe --always --dirty))")"
(cd "$SRC" && go build -o "$T/" ./cmd/bakery ./cmd/bakery-core && go build -o "$T/benchsbom" ./hack/benchsbom \
  && CGO_ENABLED=0 go build -trimpath -o "$T/benchgen" ./hack/benchgen)
export TMPDIR=$T/tmp
# bakery's SBOM layer cache (docs/sbom-cache.md), where the bakery has one, is
# this run's own: the first build fills it, later builds of the same layers hit.
export BAKERY_SBOM_CACHE_DIR=$T/sbom-cache

export BAKERY_SIGNING_PASSWORD=bench COSIGN_PASSWORD=bench SYFT_CHECK_FOR_APP_UPDATE=false
[ -f "$OUT/bench.key" ] || "$T/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null

stamp=$(date +%s)
NS=bench/large-$stamp
P=$T/project; mkdir -p "$P"
{
  printf 'version: 1\nbuilder:\n  max_parallel: 2\ntargets:\n'
  for s in $SIZES; do
    printf '  large-%s:\n    type: container\n    context: large-%s\n    args:\n      BASE: %s\n      SIZE_MIB: "%s"\n      SEED: bakery-%s-%s\n' \
      "$s" "$s" "$BASE_IMAGE" "$s" "$stamp" "$s"
    mkdir -p "$P/large-$s"
    cp "$T/benchgen" "$P/large-$s/benchgen"
    cat >"$P/large-$s/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG SIZE_MIB
ARG SEED
RUN --mount=type=bind,source=benchgen,target=/usr/local/bin/benchgen benchgen -dir /srv/bench-data -size-mib "$SIZE_MIB" -seed "$SEED"
DOCKERFILE
  done
  printf 'signing:\n  key: %s\n  builder_id: https://github.com/bakeryhq/bakery/bench\n' "$OUT/bench.key"
  printf 'verification:\n  keys: [%s]\n' "$OUT/bench.pub"
  printf 'policy:\n  allowed_builders: [https://github.com/bakeryhq/bakery/bench]\n'
  printf 'environments:\n'
  printf '  - name: dev\n    repository: %s/%s/bakery\n    insecure: true\n' "$REGISTRY_ADDR" "$NS"
  printf '  - name: staging\n    repository: %s/%s/staging\n    insecure: true\n    policies: [signed, sbom, provenance, promoted_through]\n' "$REGISTRY2_ADDR" "$NS"
} >"$P/bakery.yaml"
cat >"$T/provenance.json" <<'JSON'
{"buildDefinition":{"buildType":"https://github.com/bakeryhq/bakery/buildtypes/container/v1","externalParameters":{"target":"large"}},"runDetails":{"builder":{"id":"https://github.com/bakeryhq/bakery/bench"}}}
JSON

# One line per process run: size, phase, side, step, run, wall s, peak RSS KiB.
TSV=$OUT/large.tsv; : >"$TSV"
timed() { # timed SIZE PHASE SIDE STEP RUN CMD...: run CMD, append its wall time and peak RSS
  local s=$1 ph=$2 side=$3 step=$4 run=$5; shift 5
  /usr/bin/time -f "$s	$ph	$side	$step	$run	%e	%M" -a -o "$TSV" "$@"
}

# The stock chain, one step per tool, each reading the digest the previous
# step reported; every step's wall time and peak RSS is recorded.
cat >"$T/stock-chain.sh" <<CHAIN
#!/usr/bin/env bash
# stock-chain.sh SIZE PHASE RUN SEED
set -euo pipefail
s=\$1 ph=\$2 run=\$3 seed=\$4
repo=$REGISTRY_ADDR/$NS/stock/large-\$s
step() { local name=\$1; shift; /usr/bin/time -f "\$s	\$ph	stock	\$name	\$run	%e	%M" -a -o "$TSV" "\$@"; }
step buildctl "$BUILDCTL" --addr unix://$BUILDKIT_SOCK build --progress quiet --frontend dockerfile.v0 \
  --local context=$P/large-\$s --local dockerfile=$P/large-\$s --opt build-arg:BASE=$BASE_IMAGE \
  --opt build-arg:SIZE_MIB=\$s --opt build-arg:SEED=\$seed --opt attest:provenance=mode=min,version=v1 \
  --output type=image,name=\$repo,push=true,push-by-digest=true,registry.insecure=true \
  --metadata-file $T/buildctl-\$s.json
ref=\$repo@\$(jq -r '."containerimage.digest"' $T/buildctl-\$s.json)
step syft "$SYFT" scan -q "registry:\$ref" -o spdx-json=$T/sbom.spdx.json -o cyclonedx-json=$T/sbom.cdx.json
step "cosign sign" "$COSIGN" sign -y --key $OUT/bench.key --tlog-upload=false "\$ref" >/dev/null 2>&1
step "cosign attest spdx" "$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type spdxjson --predicate $T/sbom.spdx.json "\$ref" >/dev/null 2>&1
step "cosign attest cdx" "$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type cyclonedx --predicate $T/sbom.cdx.json "\$ref" >/dev/null 2>&1
step "cosign attest slsa" "$COSIGN" attest -y --key $OUT/bench.key --tlog-upload=false --type slsaprovenance1 --predicate $T/provenance.json "\$ref" >/dev/null 2>&1
CHAIN
chmod +x "$T/stock-chain.sh"

export BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK
B=("$T/bakery" --config "$P/bakery.yaml")
stock() { timed "$1" "$2" stock total "$3" "$T/stock-chain.sh" "$1" "$2" "$3" "stock-$stamp-$1"; }
bakery_build() { timed "$1" "$2" bakery total "$3" "${B[@]}" build "large-$1" --progress quiet --metadata-file "$T/bakery-$1.json"; }
platform_of() { # platform_of REPO DIGEST: the linux/amd64 manifest of an image index
  curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REGISTRY_ADDR/v2/$1/manifests/$2" \
    | jq -r 'if .manifests then (.manifests[] | select(.platform.architecture == "amd64") | .digest) else empty end' | head -n1
}

log "bench-large: sizes $SIZES MiB, $RUNS runs each; free disk before: $(df -h --output=avail "$STATE" | tail -n1 | tr -d ' ')"
: >"$OUT/large-images.txt"
nsize=0
for s in $SIZES; do
  if [ $((nsize++ % 2)) = 0 ]; then
    log "large-$s: first builds (cache miss), bakery then the stock chain"
    bakery_build "$s" cold 1 >/dev/null
    stock "$s" cold 1
  else
    log "large-$s: first builds (cache miss), the stock chain then bakery"
    stock "$s" cold 1
    bakery_build "$s" cold 1 >/dev/null
  fi
  log "large-$s: builds with the layer cached, $RUNS runs each, alternating"
  for i in $(seq 1 "$RUNS"); do
    stock "$s" warm "$i"
    bakery_build "$s" warm "$i" >/dev/null
  done

  stock_digest=$(jq -r '."containerimage.digest"' "$T/buildctl-$s.json")
  pd=$(platform_of "$NS/stock/large-$s" "$stock_digest")
  ref=$REGISTRY_ADDR/$NS/stock/large-$s@${pd:-$stock_digest}
  layers=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY_ADDR/v2/$NS/stock/large-$s/manifests/${pd:-$stock_digest}" \
    | jq '[.layers[].size] | add')
  log "large-$s: SBOM alone of $ref, bakery (benchsbom) vs the syft CLI, $RUNS runs each"
  for i in $(seq 1 "$RUNS"); do
    timed "$s" sbom bakery benchsbom "$i" "$T/benchsbom" "$ref" >"$T/benchsbom.txt"
    timed "$s" sbom stock syft "$i" "$SYFT" scan -q "registry:$ref" -o spdx-json="$T/s.spdx.json" -o cyclonedx-json="$T/s.cdx.json"
  done
  echo "large-$s: $("$T/benchgen" -n -size-mib "$s" | cut -d' ' -f1-4), image layers $layers bytes compressed; SBOM: $(cat "$T/benchsbom.txt")" \
    | tee -a "$OUT/large-images.txt"

  digest=$(jq -r '.targets[0].digest // .digest' "$T/bakery-$s.json")
  [[ $digest == sha256:* ]] || die "no digest in bakery's metadata file: $(cat "$T/bakery-$s.json")"
  log "large-$s: promotion of $digest to $REGISTRY2_ADDR, bakery promote vs crane copy, $RUNS runs each"
  for i in $(seq 1 "$RUNS"); do
    timed "$s" promote stock "crane copy" "$i" "$CRANE" copy --insecure "$REGISTRY_ADDR/$NS/bakery/large-$s@$digest" "$REGISTRY2_ADDR/$NS/crane-$i/large-$s" >/dev/null 2>&1
    timed "$s" promote bakery promote "$i" env BAKERY_ENVIRONMENTS_STAGING_REPOSITORY="$REGISTRY2_ADDR/$NS/promote-$i" \
      "${B[@]}" promote "large-$s" --to staging --digest "$digest" >/dev/null
  done
  log "large-$s done; free disk: $(df -h --output=avail "$STATE" | tail -n1 | tr -d ' ')"
done

# Summary: per size and measurement, each side's wall times, their mean, the
# mean per GiB of image (compressed layer bytes) and the peak RSS (for the
# stock chain, the largest of its steps, named).
awk -F'\t' -v imgs="$OUT/large-images.txt" '
  BEGIN { while ((getline l < imgs) > 0) { n = split(l, a, " "); sz = a[1]; gsub(/large-|:/, "", sz)
            for (i = 1; i < n; i++) if (a[i] == "layers") bytes[sz] = a[i+1] } }
  !($1 in seen) { seen[$1] = 1; sizes[++ns] = $1 }
  $4 == "total" || $2 == "sbom" || $2 == "promote" { k = $1 SUBSEP $2 SUBSEP $3; w[k] = w[k] " " $6; cnt[k]++; sum[k] += $6 }
  !($3 == "stock" && $4 == "total") { k = $1 SUBSEP $2 SUBSEP $3; if ($7 + 0 > rss[k]) { rss[k] = $7; top[k] = $4 } }
  END {
    print "| size MiB | measurement | side | wall s (runs) | mean s | s per GiB | peak RSS MiB (process) |"
    print "|---:|---|---|---|---:|---:|---|"
    np = split("cold warm sbom promote", ph, " ")
    for (i = 1; i <= ns; i++) for (j = 1; j <= np; j++) for (side = 1; side <= 2; side++) {
      sd = side == 1 ? "bakery" : "stock"; k = sizes[i] SUBSEP ph[j] SUBSEP sd
      if (!cnt[k]) continue
      gib = bytes[sizes[i]] / 2^30; m = sum[k] / cnt[k]
      printf "| %s | %s | %s |%s | %.2f | %.2f | %.0f (%s) |\n", sizes[i], ph[j], sd, w[k], m, (gib > 0 ? m / gib : 0), rss[k] / 1024, top[k]
    }
  }' "$TSV" >"$OUT/large.md"
cat "$OUT/large-images.txt" "$OUT/large.md"
