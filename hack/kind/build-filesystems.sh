#!/usr/bin/env bash
# Makes the two Debian filesystems the locally built images start from (debootstrap tarballs
# under $CACHE_DIR/kind/<key>/rootfs/, cached and timed like every step in common.sh): the kind
# node's and the Python base's. One after the other, since they share the downloaded .debs.
# It is mostly downloading and unpacking, little CPU: hack/install-deps.sh runs it beside the
# CPU-bound Go build of the tools, so that a run from an empty cache does not wait for it later.
# The image scripts (build-node-image.sh, build-python-base.sh) find the tarballs made, or make
# them themselves when this did not run.
#
# Usage: hack/kind/build-filesystems.sh   (needs root: debootstrap chroots)
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-build
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$KIND_CACHE/rootfs" "$KIND_TMP" "$KIND_LOG_DIR"
exec 9>"$KIND_CACHE/.filesystems.lock"
flock 9
step "node filesystem (debootstrap)" node_rootfs_done node_rootfs_build
step "python base filesystem" python_rootfs_done python_rootfs_build
