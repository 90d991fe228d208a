#!/usr/bin/env bash
# Workstations with Docker: a kind cluster shaped like the local one (hack/kind/cluster.yaml:
# one control plane, 2 cloud and 2 edge workers with the cloudedge.io/ labels), for running the same
# e2e suite on real kubelets:  make kind-up && make e2e KUBECONFIG=<printed path>
# Uses `kind` from PATH, else builds sigs.k8s.io/kind from the Go module proxy into the tool cache.
# The node image comes from Docker Hub (kindest/node), so this needs a Docker daemon that can pull.
#
# Environment: KIND_CLUSTER_NAME (default cloudedge), KIND_VERSION (default v0.33.0),
#   KIND_NODE_IMAGE (default: kind's own for its version), CACHE_DIR (default ~/.cache/cloudedge).
set -o errexit -o nounset -o pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-cloudedge}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
KUBECONFIG_PATH="$CACHE_DIR/clusters/kind-$KIND_CLUSTER_NAME/kubeconfig"

command -v docker >/dev/null || {
  echo "kind-up: docker is not installed; kind runs its nodes as Docker containers" >&2
  exit 1
}
docker info >/dev/null 2>&1 || {
  echo "kind-up: the Docker daemon does not answer (docker info)" >&2
  exit 1
}

KIND=$(command -v kind || true)
if [[ -z "$KIND" ]]; then
  KIND="$CACHE_DIR/bin/kind-$KIND_VERSION/kind"
  if [[ ! -x "$KIND" ]]; then
    GO=$(command -v go || echo /usr/local/go/bin/go)
    echo "[kind-up] building sigs.k8s.io/kind@$KIND_VERSION" >&2
    mkdir -p "$(dirname "$KIND")"
    GOBIN="$(dirname "$KIND")" GOTOOLCHAIN=local CGO_ENABLED=0 \
      "$GO" install -trimpath -ldflags='-s -w' "sigs.k8s.io/kind@$KIND_VERSION"
  fi
fi

mkdir -p "$(dirname "$KUBECONFIG_PATH")"
clusters=$("$KIND" get clusters 2>/dev/null || true)
if grep -qx "$KIND_CLUSTER_NAME" <<<"$clusters"; then
  echo "[kind-up] kind cluster $KIND_CLUSTER_NAME already exists" >&2
  "$KIND" export kubeconfig --name "$KIND_CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >&2
else
  args=(create cluster --name "$KIND_CLUSTER_NAME" --config "$HACK_DIR/kind/cluster.yaml"
    --kubeconfig "$KUBECONFIG_PATH" --wait 180s)
  [[ -n "$KIND_NODE_IMAGE" ]] && args+=(--image "$KIND_NODE_IMAGE")
  "$KIND" "${args[@]}" >&2
fi

# Bounded waits: every node Ready, and the default ServiceAccount made.
KUBECTL=$(command -v kubectl || true)
if [[ -z "$KUBECTL" ]]; then
  "$HACK_DIR/build-tools.sh" >&2
  KUBECTL="$("$HACK_DIR/build-tools.sh" --print-bindir)/kubectl"
fi
"$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" wait --for=condition=Ready node --all --timeout=180s >&2
for _ in $(seq 1 60); do
  "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" get serviceaccount default -n default >/dev/null 2>&1 &&
    break
  sleep 1
done
"$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" get nodes -L cloudedge.io/tier -L cloudedge.io/site >&2
echo "export KUBECONFIG=$KUBECONFIG_PATH"
