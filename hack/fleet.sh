#!/usr/bin/env bash
# fleet.sh starts two more buildkitd daemons, "node1" and "node2", on TCP with
# mutual TLS: the fleet that builder.nodes drives (docs/scale.md) and that the
# fleet end-to-end tests build on. setup.sh runs `fleet.sh up`; the tests run
# it again to bring back a node they killed.
#
# The certificates are generated here, into .bakery/fleet/certs (in the
# cache, see below), never committed: a CA, a server certificate for 127.0.0.1 that both nodes
# present, a client certificate bakery presents, and a client certificate
# from another CA that the nodes must refuse.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The nodes listen on fixed ports, so they belong to the machine, not to one
# checkout: their state and certificates live in the cache, and .bakery/fleet
# points there, so any checkout's tests and benchmarks can use (and restart)
# the nodes another checkout started.
FLEET=$CACHE/fleet
CERTS=$FLEET/certs
mkdir -p "$FLEET" "$STATE"
if [ -e "$STATE/fleet" ] && [ ! -L "$STATE/fleet" ]; then
  mv "$STATE/fleet" "$STATE/fleet.old.$$" # from before the state moved to the cache
fi
ln -sfn "$FLEET" "$STATE/fleet"
NODE_ADDRS=("${BAKERY_NODE1_ADDR:-127.0.0.1:1241}" "${BAKERY_NODE2_ADDR:-127.0.0.1:1242}")

# cert NAME CA SUBJECT [SAN]: a key and a certificate signed by CA.
cert() {
  local name=$1 ca=$2 subj=$3 san=${4:-}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/$name-key.pem" \
    -subj "$subj" -out "$CERTS/$name.csr" 2>/dev/null
  local ext=$CERTS/$name.ext
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/$ca.pem" -CAkey "$CERTS/$ca-key.pem" \
    -CAcreateserial -days 30 -extfile "$ext" -out "$CERTS/$name.pem" 2>/dev/null
  rm -f "$CERTS/$name.csr" "$ext"
}

ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=$2" -keyout "$CERTS/$1-key.pem" -out "$CERTS/$1.pem" 2>/dev/null
}

# certs makes the certificates once, and again when they are near expiry.
certs() {
  if [ -f "$CERTS/client.pem" ] && openssl x509 -checkend 86400 -noout -in "$CERTS/ca.pem" >/dev/null 2>&1; then return; fi
  log "generating the fleet's mTLS certificates in $CERTS"
  rm -rf "$CERTS"; mkdir -p "$CERTS"
  ca ca "bakery fleet CA"
  ca rogue-ca "not the fleet's CA"
  cert server ca "/CN=buildkitd" "IP:127.0.0.1,DNS:localhost"
  cert client ca "/CN=bakery"
  cert rogue-client rogue-ca "/CN=bakery"
}

buildctl_node() {
  "$BUILDKIT_BIN/buildctl" --addr "tcp://$1" --tlscacert "$CERTS/ca.pem" \
    --tlscert "$CERTS/client.pem" --tlskey "$CERTS/client-key.pem" "${@:2}"
}

node_up() { buildctl_node "$1" debug workers >/dev/null 2>&1; }

# start_node NAME ADDR starts a buildkitd (OCI worker, runc) that only
# accepts clients with a certificate from the fleet's CA.
start_node() {
  local name=$1 addr=$2 dir=$FLEET/$1
  if node_up "$addr"; then return; fi
  log "starting buildkitd $name on tcp://$addr (mTLS)"
  mkdir -p "$dir/root"
  buildkitd_config "$dir/buildkitd.toml"
  nohup "$BUILDKIT_BIN/buildkitd" --root "$dir/root" --addr "tcp://$addr" \
    --tlscacert "$CERTS/ca.pem" --tlscert "$CERTS/server.pem" --tlskey "$CERTS/server-key.pem" \
    --config "$dir/buildkitd.toml" --oci-worker=true --containerd-worker=false \
    >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do node_up "$addr" && return; sleep 0.2; done
  die "buildkitd $name did not come up on $addr; see $dir/log"
}

BUILDKIT_BIN=$CACHE/buildkit-$(modversion github.com/moby/buildkit)
[ -x "$BUILDKIT_BIN/buildkitd" ] || die "buildkitd is not built yet: run hack/setup.sh"
case "${1:-up}" in
  up)
    certs
    start_node node1 "${NODE_ADDRS[0]}"
    start_node node2 "${NODE_ADDRS[1]}"
    ;;
  stop)
    for name in node1 node2; do
      pidfile=$FLEET/$name/pid
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$pidfile"
    done
    ;;
  *) die "usage: fleet.sh [up|stop]" ;;
esac
