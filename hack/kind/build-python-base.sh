#!/usr/bin/env bash
# Builds cloudedge-python-base:bookworm, a small Python 3.11 image (Debian bookworm minbase +
# python3 + python3-venv) made by debootstrap and `docker import`, because no registry can be
# reached from this machine's Docker: python:3.11-slim cannot be pulled. The scheduler image
# (Dockerfile, `make image`) and the testbed's task image build FROM it. Cached: a rerun with the
# image present does nothing; the filesystem tarball is kept under $CACHE_DIR/kind/<key>/rootfs/
# so that the image comes back in seconds after `docker image rm`.
#
# Usage: hack/kind/build-python-base.sh   (prints the image tag on stdout)
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=python-base
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_docker
mkdir -p "$KIND_CACHE/rootfs" "$KIND_TMP"
exec 9>"$KIND_CACHE/.python-base.lock"
flock 9
clean_stale_tmp

ROOTFS_TAR=$PYTHON_ROOTFS_TAR
step "python base filesystem" python_rootfs_done python_rootfs_build

image_done() { image_exists "$PYTHON_BASE_IMAGE"; }
image_build() {
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$ROOTFS_TAR" "$PYTHON_BASE_IMAGE" >/dev/null
}
step "image $PYTHON_BASE_IMAGE" image_done image_build
echo "$PYTHON_BASE_IMAGE"
