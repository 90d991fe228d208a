#!/usr/bin/env bash
# Loads local Docker images into the nodes of a kind cluster (`kind load docker-image`), so that
# pods use them without pulling (imagePullPolicy Never or IfNotPresent). Only the nodes named
# with --nodes get them, by default every node: each image loaded is stored once per node.
#
# Usage: hack/kind/load-image.sh IMAGE... [--nodes NODE,NODE]   (NODE: container names, as
#        `kind get nodes` prints them; the control plane is <cluster>-control-plane)
# Environment: KIND_CLUSTER_NAME (default cloudedge).
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-load
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-cloudedge}
images=() nodes=""
while (($#)); do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    *) images+=("$1"); shift ;;
  esac
done
((${#images[@]})) || kind_die "usage: $0 IMAGE... [--nodes NODE,NODE]"
require_docker
"$KIND_HACK_DIR/build-binaries.sh" kind
for image in "${images[@]}"; do
  image_exists "$image" || kind_die "image $image is not in the local Docker (build it first: make image)"
done
"$KIND_BIN/kind" get clusters 2>/dev/null | grep -x "$KIND_CLUSTER_NAME" >/dev/null ||
  kind_die "no kind cluster $KIND_CLUSTER_NAME (make kind-up KIND_CLUSTER_NAME=$KIND_CLUSTER_NAME)"
kind_env=()
# kind execs `docker exec --privileged` into the nodes: the same shim as for creating them.
if (((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 24 & 1) == 0)); then
  kind_env=(env "CLOUDEDGE_REAL_DOCKER=$(command -v docker)" "PATH=$KIND_HACK_DIR/docker-shim:$PATH")
fi
t0=$(now)
timeout 600 "${kind_env[@]}" "$KIND_BIN/kind" load docker-image --name "$KIND_CLUSTER_NAME" \
  ${nodes:+--nodes "$nodes"} "${images[@]}" >&2
kind_log "loaded ${images[*]} into ${nodes:-every node of $KIND_CLUSTER_NAME} in $(($(now) - t0))s"
