#!/usr/bin/env bash
# cold.sh measures the README's set-up on a fresh machine (issue 26, item
# 8) without a fresh machine: a fresh clone of HEAD, run as a user whose home
# is empty, so that nothing is cached — no Go module cache, no Go build
# cache, no tools (~/.cache/bakery), no golangci-lint, no npm validators, no
# .bakery state. What stays is what a fresh machine of this kind also has:
# the Debian packages already installed (hack/setup.sh still runs apt-get
# update), Go itself, and the machine's Go and npm settings (copied from
# ~/.config/go/env and ~/.npmrc).
#
#   bash hack/cold.sh test    # time `make test`, phase by phase
#   bash hack/cold.sh demo    # time `make demo`
#
# It stops the services of this checkout's `make up` first (they hold the
# ports) and starts them again at the end. Each phase's wall time goes to
# $COLD_DIR/times.tsv (default /tmp/bakery-cold); the log beside it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=${1:-test}
DIR=${COLD_DIR:-/tmp/bakery-cold}
case $WHAT in test | demo) ;; *) echo "usage: $0 test|demo" >&2; exit 2 ;; esac

echo "==> stopping this checkout's services (they hold the ports)"
make -C "$ROOT" down >/dev/null 2>&1 || true
restart() {
  [ -d "$DIR/bakery" ] && HOME="$DIR/home" make -C "$DIR/bakery" down >/dev/null 2>&1 # its state is under the fresh user's home
  echo "==> starting this checkout's services again"
  make -C "$ROOT" up >/dev/null 2>&1 || echo "warning: make up in $ROOT failed: run it again" >&2
}
trap restart EXIT
if [ -d "$DIR/bakery" ]; then HOME="$DIR/home" make -C "$DIR/bakery" down >/dev/null 2>&1 || true; fi
[ -d "$DIR" ] && chmod -R u+w "$DIR" # Go leaves its module cache read-only
rm -rf "$DIR"
mkdir -p "$DIR/home/.config/go"
git clone -q --no-local "$ROOT" "$DIR/bakery"
[ -f "$HOME/.config/go/env" ] && cp "$HOME/.config/go/env" "$DIR/home/.config/go/env"
[ -f "$HOME/.npmrc" ] && cp "$HOME/.npmrc" "$DIR/home/.npmrc"

# PATH without the warm user's Go bin directory (tools it installed), with
# the fresh user's instead.
COLD_PATH=$DIR/home/go/bin:$(echo "$PATH" | tr ':' '\n' | grep -vx "$(go env GOPATH)/bin" | paste -sd:)
TIMES=$DIR/times.tsv
printf 'phase\tseconds\tresult\n' >"$TIMES"
phase() { # phase NAME COMMAND...: run COMMAND in the clone as the fresh user, timed
  local name=$1 start end rc=0
  shift
  echo "==> $name: $*"
  start=$(date +%s)
  (cd "$DIR/bakery" && env -u GOCACHE -u GOMODCACHE -u GOPATH -u XDG_CACHE_HOME -u BAKERY_CACHE_DIR HOME="$DIR/home" PATH="$COLD_PATH" "$@") >>"$DIR/log" 2>&1 || rc=$?
  end=$(date +%s)
  printf '%s\t%d\t%s\n' "$name" $((end - start)) "$([ $rc = 0 ] && echo ok || echo "failed ($rc)")" | tee -a "$TIMES"
  return $rc
}

status=0
if [ "$WHAT" = test ]; then
  # make test is `up lint`, then these two commands (Makefile).
  phase "make up" make up || status=$?
  [ $status = 0 ] && { phase "make lint" make lint || status=$?; }
  [ $status = 0 ] && { phase "go test ./..." go test ./... || status=$?; }
  [ $status = 0 ] && { phase "go test -tags e2e ./e2e/..." go test -tags e2e -count=1 -timeout 30m ./e2e/... || status=$?; }
else
  phase "make demo" make demo || status=$?
fi
awk -F'\t' 'NR > 1 { s += $2 } END { printf "total\t%d\n", s }' "$TIMES" | tee -a "$TIMES"
echo "==> du of what the fresh user cached: $(du -sh "$DIR/home" | cut -f1)"
exit $status
