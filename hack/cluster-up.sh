#!/usr/bin/env bash
# Starts a local Kubernetes control plane from the binaries built by hack/build-tools.sh:
# kwokctl's binary runtime runs etcd, kube-apiserver (RBAC and admission on), kube-controller-manager,
# kube-scheduler and kwok-controller as local processes on 127.0.0.1; then simulated kwok nodes are
# applied (hack/nodes/default.yaml: 3 cloud, 5 edge) and kwok moves bound pods to Running.
# Nothing is downloaded: every binary path is passed explicitly.
#
# Environment:
#   CLUSTER_NAME           cluster name (default cloudedge); a second name gives a second cluster
#   CACHE_DIR              tool and cluster cache (default ~/.cache/cloudedge)
#   NODES_FILE             node manifests to apply (default hack/nodes/default.yaml)
#   NODES=0                apply no nodes
#   KUBE_SCHEDULER_CONFIG  a KubeSchedulerConfiguration file for kube-scheduler (e.g. an extender)
#   CLUSTER_UP_TIMEOUT     seconds to wait for the control plane and the nodes (default 120)
#
# Prints the kubeconfig path ($CACHE_DIR/clusters/<name>/kubeconfig) and an `export KUBECONFIG=` line
# as its last line. Idempotent: a healthy cluster of that name is kept as it is (and its nodes
# re-applied); a broken or stopped one is deleted and created anew.
set -o errexit -o nounset -o pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER_NAME=${CLUSTER_NAME:-cloudedge}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
NODES_FILE=${NODES_FILE:-$HACK_DIR/nodes/default.yaml}
NODES=${NODES:-1}
KUBE_SCHEDULER_CONFIG=${KUBE_SCHEDULER_CONFIG:-}
TIMEOUT=${CLUSTER_UP_TIMEOUT:-120}
export CACHE_DIR

log() { printf '[cluster-up] %s\n' "$*" >&2; }
die() {
  printf 'cluster-up: %s\n' "$*" >&2
  exit 1
}
start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start))s"; }

[[ "$CLUSTER_NAME" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || die "CLUSTER_NAME must be a DNS label"
if [[ -n "$KUBE_SCHEDULER_CONFIG" ]]; then
  [[ -f "$KUBE_SCHEDULER_CONFIG" ]] || die "KUBE_SCHEDULER_CONFIG=$KUBE_SCHEDULER_CONFIG: no such file"
  KUBE_SCHEDULER_CONFIG=$(cd "$(dirname "$KUBE_SCHEDULER_CONFIG")" && pwd)/$(basename "$KUBE_SCHEDULER_CONFIG")
fi
if [[ "$NODES" != 0 && ! -f "$NODES_FILE" ]]; then
  die "NODES_FILE=$NODES_FILE: no such file"
fi

"$HACK_DIR/build-tools.sh" >&2
BIN_DIR=$("$HACK_DIR/build-tools.sh" --print-bindir)
KUBECTL="$BIN_DIR/kubectl"

CLUSTER_DIR="$CACHE_DIR/clusters/$CLUSTER_NAME"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig"
# kwokctl keeps its clusters (pki, etcd data, logs, pids) under its work dir: ours, not ~/.kwok.
export KWOK_WORKDIR="$CACHE_DIR/kwok"
export KWOK_KUBECTL_BINARY="$KUBECTL" KWOK_RUNTIME=binary
mkdir -p "$CLUSTER_DIR" "$KWOK_WORKDIR"

# fd 8 (the creation lock, below) is closed for kwokctl: the components it starts would keep it.
kwokctl() { "$BIN_DIR/kwokctl" --name "$CLUSTER_NAME" -v WARN "$@" 8>&-; }
kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=10s "$@"; }
healthy() { [[ -s "$KUBECONFIG_PATH" ]] && kubectl get --raw /readyz >/dev/null 2>&1; }
# The settings kwokctl has no flag for: bind every component to loopback only.
KWOKCTL_CONFIG="$CLUSTER_DIR/kwokctl.yaml"
cat >"$KWOKCTL_CONFIG" <<'EOF'
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
EOF

# (the list is read whole first: `| grep -q` would SIGPIPE kwokctl under pipefail)
exists() {
  local clusters
  clusters=$("$BIN_DIR/kwokctl" get clusters 2>/dev/null || true)
  grep -qx "$CLUSTER_NAME" <<<"$clusters"
}

# The scheduler config the running cluster was made with; a different one means a new cluster.
want_sched_config="${KUBE_SCHEDULER_CONFIG:+$(sha256sum "$KUBE_SCHEDULER_CONFIG" | cut -c1-64)}"
have_sched_config=$(cat "$CLUSTER_DIR/scheduler-config.sha256" 2>/dev/null || true)

# One cluster is made at a time per work dir: kwokctl picks each component's port as the first
# one free when it creates a cluster, and components bind them only as they start, so two
# clusters created at the same moment (make test runs the e2e and fault suites side by side)
# picked the same ports and one cluster's kwok-controller died on "address already in use".
# Held until this cluster's nodes are Ready, i.e. until every component listens; bounded.
exec 8>"$KWOK_WORKDIR/.create.lock"
flock -w "$((TIMEOUT * 3))" 8 || die "another cluster was still being created under $KWOK_WORKDIR after $((TIMEOUT * 3))s"

if exists && healthy && [[ "$want_sched_config" == "$have_sched_config" ]]; then
  log "cluster $CLUSTER_NAME is already running"
else
  if exists; then
    log "cluster $CLUSTER_NAME exists but is stopped, broken or configured otherwise: recreating it"
    kwokctl delete cluster --kubeconfig "$KUBECONFIG_PATH" >&2 || true
  fi
  rm -f "$KUBECONFIG_PATH"
  args=(
    --config "$KWOKCTL_CONFIG"
    create cluster
    --runtime binary
    --kubeconfig "$KUBECONFIG_PATH"
    --kube-authorization
    --kube-admission
    --etcd-binary "$BIN_DIR/etcd"
    --kube-apiserver-binary "$BIN_DIR/kube-apiserver"
    --kube-controller-manager-binary "$BIN_DIR/kube-controller-manager"
    --kube-scheduler-binary "$BIN_DIR/kube-scheduler"
    --kwok-controller-binary "$BIN_DIR/kwok"
    --wait "${TIMEOUT}s"
    --timeout "${TIMEOUT}s"
  )
  [[ -n "$KUBE_SCHEDULER_CONFIG" ]] && args+=(--kube-scheduler-config "$KUBE_SCHEDULER_CONFIG")
  log "creating cluster $CLUSTER_NAME (kwokctl binary runtime, Kubernetes $("$KUBECTL" version --client -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -1))"
  if ! kwokctl "${args[@]}" >&2; then
    log "kwokctl create cluster failed; the component logs are in $KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs"
    kwokctl delete cluster --kubeconfig "$KUBECONFIG_PATH" >&2 || true
    exit 1
  fi
  printf '%s' "$want_sched_config" >"$CLUSTER_DIR/scheduler-config.sha256"
  log "control plane up after $(elapsed)"
fi

# Bounded wait: $1 tries, 1 s apart, for the command that follows to succeed.
retry() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

retry "$TIMEOUT" kubectl get --raw /readyz || die "kube-apiserver not ready after ${TIMEOUT}s"

if [[ "$NODES" != 0 ]]; then
  kubectl apply -f "$NODES_FILE" -o name >/dev/null
  want=$(kubectl get -f "$NODES_FILE" -o name | wc -l)
  # kwok-controller takes the nodes it manages (annotation kwok.x-k8s.io/node=fake) to Ready.
  kubectl wait --for=condition=Ready --timeout="${TIMEOUT}s" -f "$NODES_FILE" >/dev/null ||
    die "nodes of $NODES_FILE not Ready after ${TIMEOUT}s"
  log "$want nodes Ready after $(elapsed)"
fi
exec 8>&-
# Pods can be created once the controller manager has made the default ServiceAccount.
retry "$TIMEOUT" kubectl get serviceaccount default --namespace default ||
  die "the default ServiceAccount does not exist after ${TIMEOUT}s"

log "cluster $CLUSTER_NAME ready in $(elapsed); kubeconfig: $KUBECONFIG_PATH"
echo "export KUBECONFIG=$KUBECONFIG_PATH"
