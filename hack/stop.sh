#!/usr/bin/env bash
# stop.sh stops the registries, buildkitd and the EC2 endpoint that setup.sh started. State stays in .bakery/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash "$ROOT/hack/fleet.sh" stop
for svc in buildkit registry registry2 ec2local; do
  pidfile=$STATE/$svc/pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $svc (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$pidfile"
done
