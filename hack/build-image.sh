#!/usr/bin/env bash
# `make image`: builds cloud-edge-scheduler:<appVersion> from the repository's Dockerfile.
#   IMAGE_BUILD=pypi      FROM python:3.11-slim, dependencies from PyPI (a normal workstation);
#   IMAGE_BUILD=hermetic  FROM cloudedge-python-base:bookworm (hack/kind/build-python-base.sh),
#                         with the wheels made here on the host, installed with --no-index: for
#                         machines whose build containers reach neither a registry nor PyPI;
#   IMAGE_BUILD=auto      (default) pypi when python:3.11-slim is present or can be pulled,
#                         else hermetic.
# Environment: IMAGE (default cloud-edge-scheduler), IMAGE_TAG (default the chart's appVersion),
#   CONTAINER_ENGINE (default docker), PYTHON (the venv's python, for `pip wheel`).
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENGINE=${CONTAINER_ENGINE:-docker}
IMAGE=${IMAGE:-cloud-edge-scheduler}
IMAGE_TAG=${IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' charts/cloud-edge-scheduler/Chart.yaml)}
IMAGE_BUILD=${IMAGE_BUILD:-auto}
PYTHON=${PYTHON:-.venv/bin/python}
log() { printf '[image] %s\n' "$*" >&2; }
die() {
  printf 'make image: %s\n' "$*" >&2
  exit 1
}

command -v "$ENGINE" >/dev/null ||
  die "$ENGINE not found; the image needs a container engine (CONTAINER_ENGINE=podman works too)"
if ! timeout 20 "$ENGINE" info >/dev/null 2>&1; then
  if [[ "$ENGINE" == docker && $(id -u) -eq 0 ]]; then
    hack/docker-up.sh >&2 || die "no Docker daemon answers, and it could not be started (above)"
  else
    die "$ENGINE does not answer ($ENGINE info): start its daemon"
  fi
fi

if [[ "$IMAGE_BUILD" == auto ]]; then
  if "$ENGINE" image inspect python:3.11-slim >/dev/null 2>&1 ||
    timeout 60 "$ENGINE" pull python:3.11-slim >/dev/null 2>&1; then
    IMAGE_BUILD=pypi
  else
    log "python:3.11-slim cannot be pulled here: building hermetically on the local Debian base"
    IMAGE_BUILD=hermetic
  fi
fi

t0=$(date +%s)
args=(build --tag "$IMAGE:$IMAGE_TAG")
case "$IMAGE_BUILD" in
  pypi) ;;
  hermetic)
    base=$(hack/kind/build-python-base.sh)
    [[ -x "$PYTHON" ]] || die "$PYTHON not found: run make venv (pip makes the wheels on the host)"
    # The dependencies' wheels are made again only when pyproject.toml changed (the stamp
    # names its hash); the package's own wheel every time. Only this build's wheels are left
    # here: a stale version would be installed instead.
    stamp="wheelhouse/.deps-$(sha256sum pyproject.toml | cut -c1-16)"
    rm -f wheelhouse/cloud_edge_scheduler-*.whl
    if [[ ! -f "$stamp" ]]; then
      rm -f wheelhouse/*.whl wheelhouse/.deps-*
      log "wheels of cloud-edge-scheduler's dependencies into wheelhouse/"
      "$PYTHON" -m pip wheel --quiet --wheel-dir wheelhouse . >&2
      touch "$stamp"
    fi
    log "wheel of cloud-edge-scheduler into wheelhouse/"
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir wheelhouse . >&2
    args+=(--build-arg "PYTHON_IMAGE=$base" --build-arg WHEELS=hermetic)
    ;;
  *) die "IMAGE_BUILD=$IMAGE_BUILD: expected auto, pypi or hermetic" ;;
esac
log "building $IMAGE:$IMAGE_TAG ($IMAGE_BUILD)"
"$ENGINE" "${args[@]}" . >&2
# A rebuild leaves the image it replaced untagged, and the classic builder its builder stage
# too: about 1.2 GB a build, which filled the disk over a few dozen builds. Only untagged
# images carrying this project's label go (Dockerfile); no other image is touched.
"$ENGINE" image prune --force --filter "label=io.cloudedge.build=cloud-edge-scheduler" >&2 ||
  log "could not remove this project's untagged images (image prune failed); the build stands"
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE:$IMAGE_TAG")
log "built $IMAGE:$IMAGE_TAG in $(($(date +%s) - t0))s: $((size / 1000000)) MB"
echo "$IMAGE:$IMAGE_TAG"
