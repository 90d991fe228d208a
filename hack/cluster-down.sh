#!/usr/bin/env bash
# Stops and deletes the local control plane started by hack/cluster-up.sh: every process of the
# cluster, its etcd data and its kubeconfig. Idempotent: a cluster that does not exist is fine.
#
# Environment: CLUSTER_NAME (default cloudedge), CACHE_DIR (default ~/.cache/cloudedge).
set -o errexit -o nounset -o pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER_NAME=${CLUSTER_NAME:-cloudedge}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
export CACHE_DIR

BIN_DIR=$("$HACK_DIR/build-tools.sh" --print-bindir)
CLUSTER_DIR="$CACHE_DIR/clusters/$CLUSTER_NAME"
export KWOK_WORKDIR="$CACHE_DIR/kwok"

if [[ ! -x "$BIN_DIR/kwokctl" ]]; then
  echo "[cluster-down] kwokctl is not built ($BIN_DIR): no cluster to delete" >&2
  rm -rf "$CLUSTER_DIR"
  exit 0
fi
# (the list is read whole first: `| grep -q` would SIGPIPE kwokctl under pipefail)
clusters=$("$BIN_DIR/kwokctl" get clusters 2>/dev/null || true)
if grep -qx "$CLUSTER_NAME" <<<"$clusters"; then
  "$BIN_DIR/kwokctl" --name "$CLUSTER_NAME" -v WARN delete cluster --kubeconfig "$CLUSTER_DIR/kubeconfig" >&2
  echo "[cluster-down] cluster $CLUSTER_NAME deleted" >&2
else
  echo "[cluster-down] cluster $CLUSTER_NAME is not running" >&2
fi
rm -rf "$CLUSTER_DIR"
