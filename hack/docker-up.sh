#!/usr/bin/env bash
# Makes sure a Docker daemon answers, for the kind cluster and the image builds. A daemon that
# already answers (a workstation's, or one started earlier) is used as it is. Only when none
# answers is dockerd started here, in the background, and recorded in $CACHE_DIR/docker/
# (dockerd.pid, dockerd.log) so that hack/docker-down.sh stops exactly that daemon and never one
# that someone else runs. CI machines ship the docker CLI without a daemon and without an init
# that would start one, hence this script.
set -o errexit -o nounset -o pipefail

CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
STATE_DIR="$CACHE_DIR/docker"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
# dockerd 20.10 on 2 busy cores takes 2-10 s to answer; 90 s means it is not going to.
START_TIMEOUT=${DOCKER_START_TIMEOUT:-90}
log() { printf '[docker-up] %s\n' "$*"; }
fail() {
  printf 'docker-up: %s\n' "$*" >&2
  exit 1
}

answers() { timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

command -v docker >/dev/null ||
  fail "the docker CLI is not installed (hack/install-deps.sh installs Debian's docker.io)"
if answers; then
  log "Docker daemon answers: server $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
  exit 0
fi

DOCKERD=$(command -v dockerd || true)
[[ -n "$DOCKERD" ]] ||
  fail "no Docker daemon answers and dockerd is not installed (run hack/install-deps.sh as root, or start your Docker)"
[[ $(id -u) -eq 0 ]] ||
  fail "no Docker daemon answers, and starting dockerd needs root (start your Docker, or run as root)"

mkdir -p "$STATE_DIR"
# Two callers at once (make targets run in parallel by people) must not start two daemons.
exec 8>"$STATE_DIR/.lock"
flock 8
if answers; then
  log "Docker daemon answers (started by a concurrent caller)"
  exit 0
fi
if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  fail "dockerd (pid $(cat "$PID_FILE"), started earlier by this script) runs but does not answer; see $LOG_FILE, or stop it with hack/docker-down.sh"
fi
if [[ -S /var/run/docker.sock ]] && ! pgrep -x dockerd >/dev/null; then
  # A socket left by a daemon that died: dockerd refuses to start on it.
  rm -f /var/run/docker.sock
fi
pgrep -x dockerd >/dev/null &&
  fail "a dockerd not started by this script runs but does not answer (pid $(pgrep -x dockerd | paste -sd,)); not touching it"

log "no Docker daemon answers: starting $DOCKERD (log: $LOG_FILE)"
t0=$(date +%s)
# setsid: the daemon outlives this script and the make that ran it, and a Ctrl-C in the
# terminal does not reach it.
setsid "$DOCKERD" --host unix:///var/run/docker.sock >"$LOG_FILE" 2>&1 </dev/null &
echo $! >"$PID_FILE"
for ((i = 0; i < START_TIMEOUT; i++)); do
  if answers; then
    log "dockerd $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') answers after $(($(date +%s) - t0))s (pid $(cat "$PID_FILE"))"
    exit 0
  fi
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    rm -f "$PID_FILE"
    tail -n 20 "$LOG_FILE" >&2
    fail "dockerd exited at start (its log's tail is above; full log: $LOG_FILE)"
  fi
  sleep 1
done
tail -n 20 "$LOG_FILE" >&2
fail "dockerd (pid $(cat "$PID_FILE")) did not answer within ${START_TIMEOUT}s; stop it with hack/docker-down.sh (log: $LOG_FILE)"
