#!/usr/bin/env bash
# bench-startup.sh measures what a bakery invocation costs before it does
# anything (issue 26, item 7): `bakery --version` and `bakery status --help`
# against the stock `crane version` in the same run (hyperfine, alternating,
# warm page cache; peak RSS with /usr/bin/time, the highest of RUNS runs),
# then where the time goes: GODEBUG=inittrace=1 of `bakery --version`, its
# package inits (median of several traces) summed, the heaviest listed by
# clock and by bytes, and by module. Needs no services. Figures go to .bakery/bench/startup*;
# BENCHMARKS.md ("Start-up") quotes them. Run by hack/bench.sh
# (BENCH_ONLY=startup make bench), or alone. BAKERY_BIN picks another bakery
# binary (an A/B against an older build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v hyperfine >/dev/null && [ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q hyperfine time; }
OUT=$STATE/bench; mkdir -p "$OUT"
RUNS=${BENCH_RUNS:-5}
BAKERY=${BAKERY_BIN:-$OUT/bakery}
[ -n "${BAKERY_BIN:-}" ] || (cd "$ROOT" && go build -o "$OUT/" ./cmd/bakery ./cmd/bakery-core)
# bakery is the front (it answers --version and --help from its embedded
# command tree); bakery-core beside it is the whole program, measured too.
CORE=$(dirname "$BAKERY")/bakery-core
build_crane

log "start-up: bakery --version, bakery status --help and crane version, alternating"
hyperfine -N --warmup 5 --min-runs 30 --export-markdown "$OUT/startup.md" \
  -n 'bakery --version' "$BAKERY --version" \
  -n 'bakery status --help' "$BAKERY status --help" \
  -n 'bakery-core --version' "$CORE --version" \
  -n 'crane version' "$CRANE version" >/dev/null
: >"$OUT/startup-rss.tsv"
for _ in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "bakery --version\t%M" -a -o "$OUT/startup-rss.tsv" "$BAKERY" --version >/dev/null
  /usr/bin/time -f "bakery status --help\t%M" -a -o "$OUT/startup-rss.tsv" "$BAKERY" status --help >/dev/null
  /usr/bin/time -f "bakery-core --version\t%M" -a -o "$OUT/startup-rss.tsv" "$CORE" --version >/dev/null
  /usr/bin/time -f "crane version\t%M" -a -o "$OUT/startup-rss.tsv" "$CRANE" version >/dev/null
done
awk -F'\t' '{if ($2>m[$1]) m[$1]=$2} END {for (k in m) printf "%-22s peak RSS %.1f MiB\n", k, m[k]/1024}' \
  "$OUT/startup-rss.tsv" | sort >"$OUT/startup-rss.txt"
printf '%-22s %s\n' "bakery binary" "$(du -m "$BAKERY" | cut -f1) MB" "bakery-core binary" "$(du -m "$CORE" | cut -f1) MB" "crane binary" "$(du -m "$CRANE" | cut -f1) MB" \
  >>"$OUT/startup-rss.txt"

# Where bakery-core's time goes (what every command but --help and --version
# pays): GODEBUG=inittrace=1 prints one line per package
# init, "init PKG @START ms, CLOCK ms clock, BYTES bytes, ALLOCS allocs".
# One trace is at the mercy of the machine's other work, so TRACES traces are
# taken and each package's median clock is kept (its bytes do not vary).
TRACES=${BENCH_TRACES:-11}
: >"$OUT/startup-inittrace.txt"
for _ in $(seq 1 "$TRACES"); do
  GODEBUG=inittrace=1 "$CORE" --version 2>&1 >/dev/null | grep '^init ' >>"$OUT/startup-inittrace.txt"
done
awk '{print $2, $5, $8}' "$OUT/startup-inittrace.txt" | sort -k1,1 -k2,2g |
  awk -v n="$TRACES" '{v[$1]=v[$1]" "$2; b[$1]=$3} END {for (p in v) {split(substr(v[p],2), a, " "); printf "%s %s %s\n", p, a[int((n+1)/2)], b[p]}}' \
  >"$OUT/startup-inits-median.txt"
(cd "$ROOT" && go list -deps -f '{{.ImportPath}} {{with .Module}}{{.Path}}{{else}}std{{end}}' ./cmd/bakery-core) >"$OUT/startup-modules.txt"
M=$OUT/startup-inits-median.txt
{
  awk -v n="$TRACES" '{k++; ms+=$2; b+=$3} END {printf "%d package inits, median of %d traces: %.1f ms clock, %.1f MB allocated\n", k, n, ms, b/1e6}' "$M"
  echo "heaviest by clock (ms, bytes, package):"
  sort -k2,2g "$M" | tail -15 | awk '{printf "  %6s  %9s  %s\n", $2, $3, $1}'
  echo "heaviest by bytes allocated:"
  sort -k3,3n "$M" | tail -8 | awk '{printf "  %6s  %9s  %s\n", $2, $3, $1}'
  echo "by module (ms, bytes, inits, module):"
  awk 'NR==FNR {mod[$1]=$2; next} {m=mod[$1]; if (m=="") m="?"; ms[m]+=$2; b[m]+=$3; n[m]++}
    END {for (k in ms) printf "  %6.1f  %9d  %4d  %s\n", ms[k], b[k], n[k], k}' \
    "$OUT/startup-modules.txt" "$M" | sort -g | tail -12
} >"$OUT/startup-inits.txt"
cat "$OUT/startup.md" "$OUT/startup-rss.txt" "$OUT/startup-inits.txt"
