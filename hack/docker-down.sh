#!/usr/bin/env bash
# Stops the dockerd that hack/docker-up.sh started, and only that one (its pid is recorded in
# $CACHE_DIR/docker/dockerd.pid). A daemon this project did not start is left alone. Kind
# clusters die with the daemon's containers: delete them first (make kind-down).
set -o errexit -o nounset -o pipefail

CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
PID_FILE="$CACHE_DIR/docker/dockerd.pid"
log() { printf '[docker-down] %s\n' "$*"; }

if [[ ! -f "$PID_FILE" ]]; then
  log "no dockerd was started by hack/docker-up.sh; nothing to stop"
  exit 0
fi
pid=$(cat "$PID_FILE")
# The pid must still be a dockerd: after a reboot the number may belong to anything.
if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]]; then
  log "recorded dockerd (pid $pid) is gone; forgetting it"
  rm -f "$PID_FILE"
  exit 0
fi
kill -TERM "$pid"
# dockerd stops its containers (10 s each at most) and its containerd; 60 s bounds the wait.
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "docker-down: dockerd (pid $pid) still runs 60 s after SIGTERM; left running" >&2
  exit 1
fi
rm -f "$PID_FILE"
log "stopped dockerd (pid $pid)"
