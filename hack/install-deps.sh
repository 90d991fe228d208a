#!/usr/bin/env bash
# Installs what a fresh Debian machine (as root) lacks for `make test` and `make run`:
#   - Debian packages the tests use: prometheus (the Prometheus scrape tests start their own, on
#     127.0.0.1), and python3-venv where python3 is Debian's own;
#   - Docker for the kind cluster (hack/kind/): Debian's docker.io when no dockerd is installed,
#     debootstrap for the locally built images, and a running daemon: dockerd is started only
#     when no daemon answers, and then recorded in $CACHE_DIR/docker/ so that
#     hack/docker-down.sh stops that one and nothing else;
#   - the control-plane tools built from upstream Go modules (hack/build-tools.sh; cached), and
#     beside them, as root, the kind images' Debian filesystems (hack/kind/build-filesystems.sh).
# The Python virtualenv itself is made by `make venv`. Idempotent and quick when all is present:
# `apt-get update` runs once, and only when a package is missing.
set -o errexit -o nounset -o pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[install-deps] %s\n' "$*"; }

# --- Debian packages ---------------------------------------------------------------------------
missing=()
installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }
installed prometheus || missing+=(prometheus)
if [[ "$(command -v python3)" == /usr/bin/python3 ]] && ! python3 -c 'import ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi
command -v flock >/dev/null || missing+=(util-linux)
# kind's nodes are Docker containers; a docker CLI alone (no dockerd) is not enough.
command -v dockerd >/dev/null || installed docker.io || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Installing must not start services (prometheus would listen on all interfaces): keep or make
  # a policy-rc.d that forbids it, for the time of the install.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # A machine whose init did start it anyway: the tests run their own instance.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
log "Debian packages present: prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}')"

# --- Docker daemon -----------------------------------------------------------------------------
"$HACK_DIR/docker-up.sh"

# --- Go-built tools, and the kind images' Debian filesystems beside them -----------------------
# debootstrap mostly downloads and unpacks while the Go build keeps both cores busy: run side by
# side, a first run waits for the longer of the two instead of their sum. Only as root with
# debootstrap present (the kind scripts' own condition); its progress lines are shown at the end,
# and a failure here is reported, not fatal: the image scripts make the filesystems themselves.
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
fs_pid=""
fs_log="$CACHE_DIR/logs/kind-filesystems.log"
if [[ $(id -u) -eq 0 ]] && command -v debootstrap >/dev/null; then
  mkdir -p "$(dirname "$fs_log")"
  setsid "$HACK_DIR/kind/build-filesystems.sh" >"$fs_log" 2>&1 &
  fs_pid=$!
fi
if ! "$HACK_DIR/build-tools.sh"; then
  [[ -n "$fs_pid" ]] && { kill -- -"$fs_pid" 2>/dev/null || true; wait "$fs_pid" || true; }
  exit 1
fi
if [[ -n "$fs_pid" ]]; then
  if wait "$fs_pid"; then
    cat "$fs_log"
  else
    log "warning: the kind filesystems were not made now (log: $fs_log); the kind image scripts retry"
    tail -n 5 "$fs_log"
  fi
fi
