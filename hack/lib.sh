#!/usr/bin/env bash
# Shared settings for bakery's development scripts. Sourced, never run.
# Everything the scripts start lives under $STATE (git-ignored, project-local);
# tools built from the Go module proxy are cached under $CACHE so a fresh clone
# does not rebuild them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${BAKERY_STATE_DIR:-$ROOT/.bakery}
CACHE=${BAKERY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bakery}
REGISTRY_ADDR=${BAKERY_REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY2_ADDR=${BAKERY_REGISTRY2_ADDR:-127.0.0.1:5001}
EC2_ADDR=${BAKERY_EC2_ADDR:-127.0.0.1:4566}
BUILDKIT_SOCK=$STATE/buildkit/buildkitd.sock
BASE_IMAGE=${BAKERY_BASE_IMAGE:-$REGISTRY_ADDR/base/debian:bookworm}
DEBIAN_SUITE=bookworm
PACKER_VERSION=${BAKERY_PACKER_VERSION:-v1.12.0}

# Versions come from go.mod so the daemon always matches the client bakery links.
modversion() { (cd "$ROOT" && go list -m -f '{{.Version}}' "$1"); }

# buildkit_ldflags VERSION: the linker flags that give buildkitd and buildctl
# their version, as BuildKit's release builds set them (version/version.go);
# the revision is the module's hash in go.sum, the proxy serving no git commit.
buildkit_ldflags() {
  local sum; sum=$(awk -v v="$1" '$1=="github.com/moby/buildkit" && $2==v {print $3}' "$ROOT/go.sum")
  [ -n "$sum" ] || die "github.com/moby/buildkit $1 is not in go.sum"
  printf -- '-X github.com/moby/buildkit/version.Version=%s -X github.com/moby/buildkit/version.Revision=%s' "$1" "$sum"
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# debian_mirror prints the Debian mirror apt is configured with (deb822 or one-line format).
debian_mirror() {
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | head -n1)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || die "no Debian mirror found in apt's configuration (/etc/apt/sources.list*)"
  echo "$m"
}

# buildkitd_config FILE writes the buildkitd.toml every daemon the scripts
# start uses: both local registries over plain HTTP.
buildkitd_config() {
  cat >"$1" <<TOML
[registry."$REGISTRY_ADDR"]
  http = true
  insecure = true
[registry."$REGISTRY2_ADDR"]
  http = true
  insecure = true
TOML
}

registry_up() { curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

# build_crane builds the stock crane CLI (the attacker's tool in the e2e
# tamper tests, and the baseline of make bench).
CRANE_VER=v0.20.6
CRANE=$CACHE/crane-$CRANE_VER/crane
build_crane() {
  if [ -x "$CRANE" ]; then return; fi
  log "building crane $CRANE_VER from the Go module proxy"
  GOBIN=$(dirname "$CRANE") CGO_ENABLED=0 go install -trimpath "github.com/google/go-containerregistry/cmd/crane@$CRANE_VER"
}

# build_tool DIR MODULE VERSION PKG... builds the commands PKG... of MODULE at
# VERSION into DIR, in a throwaway module that requires exactly that version
# (`go install module@version` is refused for some modules here: buildkit's
# go.mod has exclude directives, packer needs a replace). Packer's modules
# gob-encode cty values and need the go-cty fork every Packer plugin uses.
# TOOL_LDFLAGS, when set, is passed to the linker. Each binary is built beside
# its final name and renamed over it, so a daemon running the old binary keeps
# running (a running executable cannot be written in place).
build_tool() {
  local dir=$1 module=$2 ver=$3; shift 3
  local src=$CACHE/src/$(basename "$dir")
  mkdir -p "$src" "$dir"
  {
    printf 'module bakery.local/tools\n\ngo 1.24\n\nrequire %s %s\n' "$module" "$ver"
    case $module in github.com/hashicorp/*)
      printf '\nreplace github.com/zclconf/go-cty => github.com/nywilken/go-cty v1.13.3\n';;
    # Kyverno's own go.mod replaces pod-security-admission with its fork.
    github.com/kyverno/kyverno)
      printf '\nreplace k8s.io/pod-security-admission => github.com/kyverno/pod-security-admission v0.0.0-20251031094455-46f20778634f\n';;
    esac
  } >"$src/go.mod"
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'; printf '\t_ "%s"\n' "$@"; printf ')\n'; } >"$src/tools.go"
  (cd "$src" && go mod tidy) || die "resolving $module $ver failed"
  local pkg
  for pkg in "$@"; do
    # a command's name is its package's last element, or the one before a
    # major-version suffix (sigs.k8s.io/kustomize/kustomize/v5 is kustomize),
    # as go install names it
    local base
    base=$(basename "$pkg")
    case $base in v[0-9]*) base=$(basename "$(dirname "$pkg")");; esac
    local out=$dir/$base
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "${TOOL_LDFLAGS:-}" -o "$out.new" "$pkg") || die "building $pkg failed"
    mv -f "$out.new" "$out"
  done
}
