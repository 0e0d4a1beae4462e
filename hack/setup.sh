#!/usr/bin/env bash
# setup.sh installs and starts everything bakery's demo and tests need, on a
# fresh Debian 12 machine with no Docker engine and no internet beyond the Go
# module proxy and Debian's mirror:
#   - runc, the distribution registry and debootstrap from Debian's packages;
#   - buildkitd/buildctl built from the moby/buildkit version go.mod pins;
#   - the registry on $REGISTRY_ADDR and buildkitd (OCI worker, runc) on a unix
#     socket under .bakery/, and a fleet of two more on TCP with mutual TLS
#     (hack/fleet.sh, certificates generated locally);
#   - a Debian base image made with debootstrap, pushed to the local registry,
#     and the same rootfs as the golden machine image's source;
#   - packer (for machine images) built from the module proxy, and a local
#     EC2 and Auto Scaling endpoint (hack/ec2local) for promoting AMIs, and
#     rolling them out to launch templates and groups, offline;
#   - the CycloneDX project's validator from npm (hack/validators), which the
#     SBOM validity tests run.
# Running it twice is harmless; hack/stop.sh stops what it started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages() {
  local missing=()
  command -v runc >/dev/null || missing+=(runc)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)
  command -v npm >/dev/null || missing+=(npm)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v openssl >/dev/null || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" ca-certificates
}

# install_validators installs the CycloneDX project's JSON validator
# (@cyclonedx/cyclonedx-library with ajv) from npm, at the versions
# hack/validators/package.json pins, for the SBOM validity tests. npm reads its
# registry from the machine's configuration; no lock file is kept, so no
# registry address is written into the project.
install_validators() {
  local dir=$STATE/validators
  if cmp -s "$ROOT/hack/validators/package.json" "$dir/package.json" &&
     [ -f "$dir/node_modules/@cyclonedx/cyclonedx-library/package.json" ]; then return; fi
  log "installing the CycloneDX validator from npm"
  mkdir -p "$dir"
  cp "$ROOT/hack/validators/package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) || die "npm install of the SBOM validators failed"
}

# build_buildkit builds buildkitd and buildctl in a throwaway module that
# requires exactly the moby/buildkit version of bakery's go.mod (go install
# @version is refused because buildkit's go.mod has exclude directives), with
# that version linked in as a release build has it (`buildkitd --version`, and
# the builder version BuildKit's provenance records; unset, both say
# v0.0.0+unknown). The module proxy serves no git commit, so the revision is
# the module's go.sum hash: the exact source built. The linker flags are
# written to a stamp beside the binaries; binaries built without them (or
# with others) are rebuilt once. A buildkitd already running keeps its old
# binary until it is restarted (hack/stop.sh, then this script).
build_buildkit() {
  local ver; ver=$(modversion github.com/moby/buildkit)
  BUILDKIT_BIN=$CACHE/buildkit-$ver
  local stamp; stamp=$(buildkit_ldflags "$ver")
  if [ -x "$BUILDKIT_BIN/buildkitd" ] && [ -x "$BUILDKIT_BIN/buildctl" ] &&
     [ "$(cat "$BUILDKIT_BIN/ldflags.stamp" 2>/dev/null)" = "$stamp" ]; then return; fi
  log "building buildkitd and buildctl $ver from the Go module proxy (about 2 minutes cold)"
  rm -f "$BUILDKIT_BIN/ldflags.stamp"
  TOOL_LDFLAGS=$stamp build_tool "$BUILDKIT_BIN" github.com/moby/buildkit "$ver" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
  printf '%s\n' "$stamp" >"$BUILDKIT_BIN/ldflags.stamp"
}

# build_packer builds the packer binary that drives machine-image targets.
# v1.12.0 is the newest release the module proxy serves and that builds here.
build_packer() {
  PACKER_BIN=$CACHE/packer-$PACKER_VERSION
  if [ -x "$PACKER_BIN/packer" ]; then return; fi
  log "building packer $PACKER_VERSION from the Go module proxy (about a minute cold)"
  build_tool "$PACKER_BIN" github.com/hashicorp/packer "$PACKER_VERSION" github.com/hashicorp/packer
}

# build_cosign builds the stock cosign CLI at the version go.mod pins; the
# end-to-end tests verify bakery's signatures with it.
build_cosign() {
  local ver; ver=$(modversion github.com/sigstore/cosign/v2)
  COSIGN_BIN=$CACHE/cosign-$ver
  if [ -x "$COSIGN_BIN/cosign" ]; then return; fi
  log "building the cosign CLI $ver from the Go module proxy (a few minutes cold)"
  mkdir -p "$COSIGN_BIN"
  GOBIN=$COSIGN_BIN CGO_ENABLED=0 go install -trimpath "github.com/sigstore/cosign/v2/cmd/cosign@$ver"
}

# build_packer_sdc builds packer-sdc, the Packer plugin SDK's generator and
# checker, at the SDK version go.mod pins: `make generate` writes the plugin's
# HCL2 specs with it, and the end-to-end tests run its plugin-check.
build_packer_sdc() {
  local ver; ver=$(modversion github.com/hashicorp/packer-plugin-sdk)
  PACKER_SDC_BIN=$CACHE/packer-sdc-$ver
  if [ -x "$PACKER_SDC_BIN/packer-sdc" ]; then return; fi
  log "building packer-sdc $ver from the Go module proxy"
  build_tool "$PACKER_SDC_BIN" github.com/hashicorp/packer-plugin-sdk "$ver" github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc
}

# The deployment side's stock tools (issue 24), each at a pinned version from
# the Go module proxy: kustomize renders what bakery promote --write edited,
# policy-controller's policy-tester and the Kyverno CLI judge the admission
# policies bakery admission writes, against the real registry.
KUSTOMIZE_VER=v5.8.2
POLICY_CONTROLLER_VER=v0.13.1
KYVERNO_VER=v1.19.1
build_deploy_tools() {
  KUSTOMIZE_BIN=$CACHE/kustomize-$KUSTOMIZE_VER
  if [ ! -x "$KUSTOMIZE_BIN/kustomize" ]; then
    log "building kustomize $KUSTOMIZE_VER from the Go module proxy"
    build_tool "$KUSTOMIZE_BIN" sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VER" sigs.k8s.io/kustomize/kustomize/v5
  fi
  POLICY_TESTER_BIN=$CACHE/policy-controller-$POLICY_CONTROLLER_VER
  if [ ! -x "$POLICY_TESTER_BIN/tester" ]; then
    log "building policy-controller's policy-tester $POLICY_CONTROLLER_VER from the Go module proxy (several minutes cold)"
    build_tool "$POLICY_TESTER_BIN" github.com/sigstore/policy-controller "$POLICY_CONTROLLER_VER" github.com/sigstore/policy-controller/cmd/tester
  fi
  KYVERNO_BIN=$CACHE/kyverno-$KYVERNO_VER
  if [ ! -x "$KYVERNO_BIN/kubectl-kyverno" ]; then
    log "building the Kyverno CLI $KYVERNO_VER from the Go module proxy (several minutes cold)"
    build_tool "$KYVERNO_BIN" github.com/kyverno/kyverno "$KYVERNO_VER" github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno
  fi
}

# start_registry NAME ADDR starts Debian's distribution registry on ADDR with
# its storage under .bakery/NAME. The second registry (127.0.0.1:5001) is for
# promotions across registries.
start_registry() {
  local name=$1 addr=$2
  if curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null; then return; fi
  log "starting the distribution registry on $addr"
  mkdir -p "$STATE/$name/data"
  cat >"$STATE/$name/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/$name/data
  delete:
    enabled: true
http:
  addr: $addr
YML
  nohup docker-registry serve "$STATE/$name/config.yml" >"$STATE/$name/log" 2>&1 &
  echo $! >"$STATE/$name/pid"
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null && return; sleep 0.2; done
  die "the registry did not come up on $addr; see $STATE/$name/log"
}

# start_ec2local serves hack/ec2local, a local stand-in for the EC2 image and
# launch template API and the Auto Scaling instance refresh API
# (in memory), so that `make demo` can promote the golden AMI offline.
start_ec2local() {
  mkdir -p "$STATE/ec2local" "$STATE/bin"
  # Rebuilt every time (seconds, cached): one this checkout started from an
  # older build is restarted, so that the endpoint has every call bakery makes.
  (cd "$ROOT" && go build -o "$STATE/bin/ec2local.new" ./hack/ec2local)
  if curl -fsS -o /dev/null "http://$EC2_ADDR/ping" 2>/dev/null; then
    if cmp -s "$STATE/bin/ec2local.new" "$STATE/bin/ec2local" || [ ! -f "$STATE/ec2local/pid" ]; then
      rm -f "$STATE/bin/ec2local.new"
      return # current, or another checkout's: left alone
    fi
    log "restarting the local EC2 endpoint on $EC2_ADDR (rebuilt)"
    kill "$(cat "$STATE/ec2local/pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$EC2_ADDR/ping" 2>/dev/null || break; sleep 0.2; done
  fi
  mv -f "$STATE/bin/ec2local.new" "$STATE/bin/ec2local"
  log "starting the local EC2 endpoint on $EC2_ADDR"
  nohup "$STATE/bin/ec2local" -addr "$EC2_ADDR" >"$STATE/ec2local/log" 2>&1 &
  echo $! >"$STATE/ec2local/pid"
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$EC2_ADDR/ping" 2>/dev/null && return; sleep 0.2; done
  die "the local EC2 endpoint did not come up on $EC2_ADDR; see $STATE/ec2local/log"
}

buildkit_up() { [ -S "$BUILDKIT_SOCK" ] && "$BUILDKIT_BIN/buildctl" --addr "unix://$BUILDKIT_SOCK" debug workers >/dev/null 2>&1; }

start_buildkitd() {
  if buildkit_up; then return; fi
  log "starting buildkitd (OCI worker, runc) on unix://$BUILDKIT_SOCK"
  mkdir -p "$STATE/buildkit/root"
  buildkitd_config "$STATE/buildkit/buildkitd.toml"
  rm -f "$BUILDKIT_SOCK"
  nohup "$BUILDKIT_BIN/buildkitd" --root "$STATE/buildkit/root" --addr "unix://$BUILDKIT_SOCK" \
    --config "$STATE/buildkit/buildkitd.toml" --oci-worker=true --containerd-worker=false \
    >"$STATE/buildkit/log" 2>&1 &
  echo $! >"$STATE/buildkit/pid"
  for _ in $(seq 1 100); do buildkit_up && return; sleep 0.2; done
  die "buildkitd did not come up; see $STATE/buildkit/log"
}

# rootfs_tarball debootstraps a Debian minbase rootfs once (cached) and links
# it into .bakery/rootfs: the base of the container base image and of the
# golden machine image (bakery-chroot's source_rootfs).
rootfs_tarball() {
  ROOTFS_TARBALL=$CACHE/debian-$DEBIAN_SUITE-minbase-amd64.tar.gz
  if [ ! -s "$ROOTFS_TARBALL" ]; then
    local mirror; mirror=$(debian_mirror)
    local dir=$CACHE/rootfs-$DEBIAN_SUITE.tmp
    rm -rf "$dir"; mkdir -p "$dir"
    log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror (a few minutes)"
    debootstrap --variant=minbase --arch=amd64 "$DEBIAN_SUITE" "$dir" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap.log"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar --numeric-owner --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
      -C "$dir" -czf "$ROOTFS_TARBALL.tmp" . && mv "$ROOTFS_TARBALL.tmp" "$ROOTFS_TARBALL"
    rm -rf "$dir"
  fi
  mkdir -p "$STATE/rootfs"
  ln -sfn "$ROOTFS_TARBALL" "$STATE/rootfs/debian-$DEBIAN_SUITE-minbase-amd64.tar.gz"
}

# base_image pushes the Debian rootfs as a single-layer linux/amd64 image.
# The registry (project-local) gets it on each fresh start.
base_image() {
  if curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$REGISTRY_ADDR/v2/base/debian/manifests/$DEBIAN_SUITE"; then return; fi
  log "pushing $BASE_IMAGE"
  (cd "$ROOT" && go run ./hack/pushbase --layer "$ROOTFS_TARBALL" --ref "$BASE_IMAGE" --platform linux/amd64)
}

mkdir -p "$STATE" "$CACHE"
install_packages
build_buildkit
build_cosign
build_crane
build_packer
build_packer_sdc
build_deploy_tools
install_validators
start_registry registry "$REGISTRY_ADDR"
start_registry registry2 "$REGISTRY2_ADDR"
start_buildkitd
bash "$ROOT/hack/fleet.sh" up
start_ec2local
rootfs_tarball
base_image
ln -sfn "$COSIGN_BIN/cosign" "$STATE/cosign"
ln -sfn "$CRANE" "$STATE/crane"
ln -sfn "$BUILDKIT_BIN/buildctl" "$STATE/buildctl"
ln -sfn "$PACKER_BIN/packer" "$STATE/packer"
ln -sfn "$PACKER_SDC_BIN/packer-sdc" "$STATE/packer-sdc"
ln -sfn "$KUSTOMIZE_BIN/kustomize" "$STATE/kustomize"
ln -sfn "$POLICY_TESTER_BIN/tester" "$STATE/policy-tester"
ln -sfn "$KYVERNO_BIN/kubectl-kyverno" "$STATE/kyverno"
log "ready: registries http://$REGISTRY_ADDR and http://$REGISTRY2_ADDR, buildkitd unix://$BUILDKIT_SOCK, base $BASE_IMAGE, cosign $STATE/cosign, packer $STATE/packer, EC2 endpoint http://$EC2_ADDR"
