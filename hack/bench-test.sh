#!/usr/bin/env bash
# bench-test.sh measures the test step (issue #22, docs/testing.md): `bakery
# test golden-base` (the example's hardening suite: three command tests, each
# in a fresh container of the pushed digest on buildkitd, file and metadata
# checks read from the registry, the result signed and attached) against
# running the same commands with buildctl directly, in the same run
# (hyperfine, alternating, BuildKit cache warm for all):
#   - one `buildctl build` per command test plus one for the file checks, a
#     fresh container each, as bakery gives each test;
#   - the same commands as the RUN steps of one build.
# Each buildctl run busts the RUN cache with a build argument, so every
# command runs every time, with the network off as in bakery's suite.
# Figures go to .bakery/bench/tests*; BENCHMARKS.md quotes them. Run by
# hack/bench.sh: BENCH_ONLY=test make bench.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && command -v jq >/dev/null || { apt-get update -q && apt-get install -y -q hyperfine jq; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
BUILDCTL=$CACHE/buildkit-$(modversion github.com/moby/buildkit)/buildctl
[ -x "$BUILDCTL" ] || die "run make up once: it builds buildctl"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core)
export BAKERY_SIGNING_PASSWORD=bench
[ -f "$OUT/bench.key" ] || "$OUT/bakery" keys generate --output-prefix "$OUT/bench" >/dev/null

REPO=$REGISTRY_ADDR/bench/tests
export BAKERY_BUILDER_ADDRESS=unix://$BUILDKIT_SOCK BAKERY_SIGNING_KEY=$OUT/bench.key \
  BAKERY_ENVIRONMENTS_DEV_REPOSITORY=$REPO
log "building golden-base into $REPO (it runs the suite once)"
"$OUT/bakery" build golden-base --config "$ROOT/examples/bakery.yaml" --progress quiet --metadata-file "$OUT/tests-build.json" >/dev/null
DIGEST=$(jq -r '.targets[] | select(.target == "golden-base") | .digest' "$OUT/tests-build.json")
case $DIGEST in sha256:*) ;; *) die "no digest in $OUT/tests-build.json" ;; esac
REF=$REPO/golden-base@$DIGEST

# The suite's commands (examples/tests/golden-base.yaml), as RUN steps.
CMDS=(
  'id -u | grep -q "^10001"'
  'test -z "$(find / -xdev -perm /6000 -type f 2>/dev/null; true)"'
  '/usr/local/bin/healthcheck'
  'test -x /usr/local/bin/healthcheck && test "$(stat -c %u /usr/local/bin/healthcheck)" = 0 && ! test -e /usr/sbin/sshd && grep -q "umask 027" /etc/profile.d/umask.sh'
)
DF=$OUT/tests-dockerfiles; rm -rf "$DF"; mkdir -p "$DF/all"
{ echo "FROM $REF"; echo "ARG NONCE"; } >"$DF/all/Dockerfile"
for i in "${!CMDS[@]}"; do
  mkdir -p "$DF/$i"
  printf 'FROM %s\nARG NONCE\nRUN --network=none %s\n' "$REF" "${CMDS[$i]}" >"$DF/$i/Dockerfile"
  printf 'RUN --network=none %s\n' "${CMDS[$i]}" >>"$DF/all/Dockerfile"
done
solve() { echo "\"$BUILDCTL\" --addr unix://$BUILDKIT_SOCK build --progress quiet --frontend dockerfile.v0 --local context=$DF/$1 --local dockerfile=$DF/$1 --opt build-arg:NONCE=\$(date +%s%N)"; }
{
  echo '#!/usr/bin/env bash'; echo 'set -euo pipefail'
  for i in "${!CMDS[@]}"; do solve "$i"; done
} >"$OUT/tests-per-test.sh"
{ echo '#!/usr/bin/env bash'; echo 'set -euo pipefail'; solve all; } >"$OUT/tests-one-build.sh"
chmod +x "$OUT/tests-per-test.sh" "$OUT/tests-one-build.sh"

BAKERY_CMD="$OUT/bakery test golden-base --env dev --suite hardening --config $ROOT/examples/bakery.yaml --progress quiet"
log "bakery test golden-base vs the same commands with buildctl, $RUNS runs each"
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/tests.md" --export-json "$OUT/tests.json" \
  -n "bakery test golden-base (suite run, result signed and attached)" "$BAKERY_CMD" \
  -n "buildctl, one build per command test" "$OUT/tests-per-test.sh" \
  -n "buildctl, the commands as RUN steps of one build" "$OUT/tests-one-build.sh"
jq -r '.results[] | "\(.command)\t\(.mean)\t\(.stddev)"' "$OUT/tests.json" >"$OUT/tests.tsv"
cat "$OUT/tests.md"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/tests.md"
