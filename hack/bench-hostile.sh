#!/usr/bin/env bash
# bench-hostile.sh measures bakery's peak RSS with a 200 MiB attestation
# attached to a digest (issue 20, item 3): a FROM-scratch image built and
# attested by bakery, then a 200 MiB DSSE attestation attached with the stock
# cosign CLI (a 150 MiB predicate, base64 in the envelope), then `bakery
# verify` and `bakery promote` of that digest, each under /usr/bin/time. Both
# must refuse it from its descriptor (exit 4) without reading it. Figures go
# to .bakery/bench/hostile*; BENCHMARKS.md quotes them. Run by hack/bench.sh
# (BENCH_ONLY=hostile make bench), or alone. BAKERY_BIN picks another bakery
# binary (an A/B against an older build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
BAKERY=${BAKERY_BIN:-$OUT/bakery}
[ -n "${BAKERY_BIN:-}" ] || (cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core)
COSIGN=$STATE/cosign
export BAKERY_SIGNING_PASSWORD=bench COSIGN_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$BAKERY" keys generate --output-prefix "$OUT/bench" >/dev/null
stamp=$(date +%s%N)
dir=$OUT/hostile; rm -rf "$dir"; mkdir -p "$dir/app"
printf 'FROM scratch\nCOPY release.txt /etc/release.txt\n' >"$dir/app/Dockerfile"
echo "hostile $stamp" >"$dir/app/release.txt"
cat >"$dir/bakery.yaml" <<YAML
version: 1
targets:
  app:
    type: container
    context: app
builder:
  address: unix://$BUILDKIT_SOCK
signing:
  key: $OUT/bench.key
verification:
  keys: [$OUT/bench.pub]
environments:
  - name: dev
    repository: $REGISTRY_ADDR/bench/hostile-$stamp/dev
    insecure: true
  - name: staging
    repository: $REGISTRY_ADDR/bench/hostile-$stamp/staging
    insecure: true
    policies: [signed, sbom]
YAML
log "building and attesting a FROM-scratch image"
ref=$("$BAKERY" build app --config "$dir/bakery.yaml" --progress quiet -o json | jq -r '.targets[0] | .repository + "@" + .digest')
[ "$ref" != "@" ] || die "no reference from bakery build"
log "attaching a 200 MiB attestation to $ref with the stock cosign"
{ printf '{"junk":"'; head -c $((150 << 20)) /dev/zero | tr '\0' 'a'; printf '"}'; } >"$dir/predicate.json"
"$COSIGN" attest -y --key "$OUT/bench.key" --tlog-upload=false --allow-insecure-registry --type https://example.com/junk \
  --predicate "$dir/predicate.json" "$ref" >/dev/null 2>&1 || die "cosign attest failed"
rm -f "$dir/predicate.json"
att=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REGISTRY_ADDR/v2/bench/hostile-$stamp/dev/app/manifests/$(echo "${ref#*@}" | tr : -).att" | jq '[.layers[].size] | max')
log "largest attestation layer: $att bytes ($((att >> 20)) MiB)"
: >"$OUT/hostile.tsv"
for cmd in verify promote; do
  args=(verify "$ref" --config "$dir/bakery.yaml")
  [ $cmd = promote ] && args=(promote app --to staging --config "$dir/bakery.yaml")
  set +e
  /usr/bin/time -f "bakery $cmd\t%e\t%M\t%x" -a -o "$OUT/hostile.tsv" "$BAKERY" "${args[@]}" >"$OUT/hostile-$cmd.out" 2>&1
  set -e
done
awk -F'\t' -v att="$att" '/^bakery/ {printf "%-15s exit %s  %.2f s  peak RSS %.0f MiB  (attestation layer %.0f MiB)\n", $1, $4, $2, $3/1024, att/1048576}' \
  "$OUT/hostile.tsv" | tee "$OUT/hostile.txt"
