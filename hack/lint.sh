#!/usr/bin/env bash
# make lint: gofmt, go vet (with and without the e2e tag) and golangci-lint
# (.golangci.yml), which it builds from the Go module proxy once into the
# cache. The import rule (imports point down) is a test, internal/layout, and
# a depguard rule here.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

GOLANGCI_VERSION=${BAKERY_GOLANGCI_VERSION:-v2.15.0}
LINT_BIN=$CACHE/golangci-lint-$GOLANGCI_VERSION
if [ ! -x "$LINT_BIN/golangci-lint" ]; then
  log "building golangci-lint $GOLANGCI_VERSION from the Go module proxy (a few minutes cold)"
  mkdir -p "$LINT_BIN"
  GOBIN=$LINT_BIN CGO_ENABLED=0 go install -trimpath "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION"
fi

unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
go vet ./...
go vet -tags e2e ./e2e/...
# Another lint of this checkout (an editor, a second terminal) waits its turn
# instead of failing the run.
"$LINT_BIN/golangci-lint" run --allow-serial-runners ./...
log "lint clean"
