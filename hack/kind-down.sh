#!/usr/bin/env bash
# Deletes the kind cluster made by hack/kind-up.sh. Idempotent.
# Environment: KIND_CLUSTER_NAME (default cloudedge), KIND_VERSION, CACHE_DIR as for kind-up.sh.
set -o errexit -o nounset -o pipefail

KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-cloudedge}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
KUBECONFIG_PATH="$CACHE_DIR/clusters/kind-$KIND_CLUSTER_NAME/kubeconfig"

KIND=$(command -v kind || echo "$CACHE_DIR/bin/kind-$KIND_VERSION/kind")
clusters=""
if [[ -x "$KIND" ]]; then clusters=$("$KIND" get clusters 2>/dev/null || true); fi
if grep -qx "$KIND_CLUSTER_NAME" <<<"$clusters"; then
  "$KIND" delete cluster --name "$KIND_CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >&2
else
  echo "[kind-down] kind cluster $KIND_CLUSTER_NAME does not exist" >&2
fi
rm -rf "$(dirname "$KUBECONFIG_PATH")"
