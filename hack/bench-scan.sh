#!/usr/bin/env bash
# bench-scan.sh measures the vulnerability scan (issue #23,
# docs/vulnerabilities.md) against the stock grype CLI at the version
# go.mod pins, built from the Go module proxy, in the same run, on the same
# SBOM and the same database (hyperfine, alternating; peak RSS with
# /usr/bin/time):
#   - `bakery scan golden-base`: resolve, verify the digest and its SBOMs,
#     scan, sign and attach the result, print the findings;
#   - benchvuln -scan: bakery's scan alone (grype as a library: vuln.Open and
#     Database.Scan), without verification and signing;
#   - `grype sbom:FILE` on the same SPDX document, the stock CLI reading the
#     same database file (no update check, no age check);
#   - `cosign attest --type vuln` of the scan bakery recorded, with the same
#     encrypted key: what signing alone costs with the stock tool (the key's
#     scrypt KDF needs 64 MiB by design), for the RSS figures.
# bakery and grype must report the same findings (id, package, version), or
# the run stops. Before peak RSS is measured the page cache is dropped
# (root only) and each command runs once: the kernel maps a binary's pages
# in folios as large as the page cache holds them (2 MiB for a file just
# written, as bakery-core is here), which counts a freshly built binary's
# untouched pages as resident; each figure is the median of 3 runs.
# The database is made with grype's own writer (hack/benchvuln): an
# advisory for each of the SBOM's Debian packages and 100000 more. Figures
# go to .bakery/bench/scan*; BENCHMARKS.md quotes them. Run by
# hack/bench.sh: BENCH_ONLY=scan make bench.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine jq time; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
GRYPE_VER=$(modversion github.com/anchore/grype)
GRYPE=$CACHE/grype-$GRYPE_VER/grype
if [ ! -x "$GRYPE" ]; then
  log "building the grype CLI $GRYPE_VER from the Go module proxy"
  GOBIN=$(dirname "$GRYPE") GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath "github.com/anchore/grype/cmd/grype@$GRYPE_VER"
fi
COSIGN=$CACHE/cosign-$(modversion github.com/sigstore/cosign/v2)/cosign
[ -x "$COSIGN" ] || die "run make up once: it builds cosign"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core ./hack/benchvuln)
export BAKERY_SIGNING_PASSWORD=bench COSIGN_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null

# A repository of its own per run: the digest's attestations are the ones
# this run made, not every earlier run's.
REPO=$REGISTRY_ADDR/bench/scan-$(date +%Y%m%d%H%M%S)
export BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK BAKERY_SIGNING_KEY=$OUT/bench.key \
  BAKERY_VERIFICATION_KEYS=$OUT/bench.pub BAKERY_ENVIRONMENTS_DEV_REPOSITORY=$REPO
log "building golden-base into $REPO"
"$OUT/bakery" build golden-base --config "$ROOT/examples/bakery.yaml" --progress quiet --metadata-file "$OUT/scan-build.json" >/dev/null
DIGEST=$(jq -r '.targets[] | select(.target == "golden-base") | .digest' "$OUT/scan-build.json")
case $DIGEST in sha256:*) ;; *) die "no digest in $OUT/scan-build.json" ;; esac
REF=$REPO/golden-base@$DIGEST

log "the verified SPDX SBOM of $REF, through the stock cosign"
"$COSIGN" verify-attestation --key "$OUT/bench.pub" --insecure-ignore-tlog --type spdxjson "$REF" 2>/dev/null \
  | sed -n 1p | jq -r .payload | base64 -d | jq .predicate >"$OUT/scan-sbom.spdx.json"
DB=$OUT/scan-db; rm -rf "$DB"
"$OUT/benchvuln" -write "$DB" -sbom "$OUT/scan-sbom.spdx.json" | tee "$OUT/scan-db.txt"
export BAKERY_VULNERABILITIES_DB=$DB/6/vulnerability.db
export GRYPE_DB_CACHE_DIR=$DB GRYPE_DB_AUTO_UPDATE=false GRYPE_DB_VALIDATE_AGE=false GRYPE_CHECK_FOR_APP_UPDATE=false

BAKERY_CMD="$OUT/bakery scan golden-base --env dev --config $ROOT/examples/bakery.yaml --progress quiet"
LIB_CMD="$OUT/benchvuln -scan $BAKERY_VULNERABILITIES_DB -sbom $OUT/scan-sbom.spdx.json"
GRYPE_CMD="$GRYPE sbom:$OUT/scan-sbom.spdx.json -o json -q"
findings_bakery=$($BAKERY_CMD -o json | jq -r '.scans[].findings[] | .id+" "+.package+" "+.version' | sort -u)
findings_grype=$($GRYPE_CMD | jq -r '.matches[] | .vulnerability.id+" "+.artifact.name+" "+.artifact.version' | sort -u)
[ "$findings_bakery" = "$findings_grype" ] || die "bakery and grype disagree: $(diff <(echo "$findings_bakery") <(echo "$findings_grype") | head -5)"
log "findings: bakery $(echo "$findings_bakery" | wc -l), the same as grype's; library $($LIB_CMD)"
"$OUT/bakery" scan golden-base --env dev --config "$ROOT/examples/bakery.yaml" --progress quiet -o json >/dev/null
"$COSIGN" verify-attestation --key "$OUT/bench.pub" --insecure-ignore-tlog --type vuln "$REF" 2>/dev/null \
  | sed -n 1p | jq -r .payload | base64 -d | jq .predicate >"$OUT/scan-vuln.json"
# cosign signs a copy of the digest in a repository of its own, whose
# attestations are deleted before each run: each run signs onto the same
# (empty) attestation image, and bakery's digest is left alone.
build_crane
SIGNED=$REPO-cosign/golden-base@$DIGEST
"$CRANE" copy --insecure "$REF" "$SIGNED" >/dev/null
ATT=$REPO-cosign/golden-base:sha256-${DIGEST#sha256:}.att
UNSIGN="d=\$($CRANE digest --insecure $ATT 2>/dev/null) && $CRANE delete --insecure $REPO-cosign/golden-base@\$d; true"
COSIGN_CMD="$COSIGN attest --key $OUT/bench.key --type vuln --predicate $OUT/scan-vuln.json --tlog-upload=false --yes $SIGNED"
log "bakery scan vs grype sbom:, $RUNS runs each"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/scan.md" --export-json "$OUT/scan.json" \
  -n "bakery scan golden-base (verify, scan, sign, attach)" "$BAKERY_CMD" \
  -n "bakery's scan alone (grype as a library)" "$LIB_CMD" \
  -n "grype sbom: (stock CLI $GRYPE_VER)" "$GRYPE_CMD"
hyperfine --warmup 1 --runs "$RUNS" --prepare "$UNSIGN" --export-markdown "$OUT/scan-cosign.md" \
  -n "cosign attest --type vuln (stock CLI, signing alone)" "$COSIGN_CMD"
sed 1,2d "$OUT/scan-cosign.md" >>"$OUT/scan.md"
{
  sync; { echo 1 >/proc/sys/vm/drop_caches; } 2>/dev/null && dropped="dropped" || dropped="not dropped (not root)"
  echo; echo "| command | peak RSS (MiB), median of 3 | runs |"; echo "|---|---|---|"
  for c in "$BAKERY_CMD" "$LIB_CMD" "$GRYPE_CMD" "$COSIGN_CMD"; do
    [ "$c" = "$COSIGN_CMD" ] && bash -c "$UNSIGN" >/dev/null 2>&1
    bash -c "$c" >/dev/null 2>&1
    all=$(for _ in 1 2 3; do
      [ "$c" = "$COSIGN_CMD" ] && bash -c "$UNSIGN" >/dev/null 2>&1
      { /usr/bin/time -f '%M' bash -c "exec $c >/dev/null 2>&1"; } 2>&1 | tail -n1
    done | sort -n | tr '\n' ' ')
    med=$(echo "$all" | awk '{print int($2 / 1024)}')
    echo "| ${c/#$OUT\//} | $med | $(echo "$all" | awk '{for (i=1;i<=NF;i++) printf "%d ", $i/1024}') |"
  done
  echo "page cache: $dropped before; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$OUT/scan.md"
cat "$OUT/scan.md"
