#!/usr/bin/env bash
# `make kind-down`: deletes the kind cluster KIND_CLUSTER_NAME (default cloudedge) and its
# kubeconfig directory, and nothing else: other kind clusters, the Docker daemon and the image
# cache stay. Idempotent: a cluster that is not there is reported, not an error.
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-down
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=hack/kind/delete-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/delete-cluster.sh"

KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-cloudedge}
STATE_DIR="$CACHE_DIR/clusters/kind-$KIND_CLUSTER_NAME"
KIND="$KIND_BIN/kind"
command -v docker >/dev/null || kind_die "docker is not installed; there is no kind cluster to delete"
timeout 20 docker info >/dev/null 2>&1 || kind_die "the Docker daemon does not answer (docker info)"
[[ -x "$KIND" ]] || KIND=$(command -v kind || true)
[[ -n "$KIND" ]] || "$KIND_HACK_DIR/build-binaries.sh" kind
[[ -n "$KIND" ]] || KIND="$KIND_BIN/kind"
if "$KIND" get clusters 2>/dev/null | grep -x "$KIND_CLUSTER_NAME" >/dev/null; then
  t0=$(now)
  delete_cluster "$KIND_CLUSTER_NAME" "$KIND" delete cluster --name "$KIND_CLUSTER_NAME" \
    --kubeconfig "$STATE_DIR/kubeconfig"
  kind_log "deleted kind cluster $KIND_CLUSTER_NAME in $(($(now) - t0))s"
else
  kind_log "kind cluster $KIND_CLUSTER_NAME does not exist; nothing to delete"
fi
rm -rf "$STATE_DIR"
