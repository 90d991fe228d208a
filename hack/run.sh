#!/usr/bin/env bash
# The main job (`make run`): a cluster, the scheduler, the example workloads, where they landed.
#
#   1. the cluster of $KUBECONFIG when set, else the local control plane (hack/cluster-up.sh,
#      which builds the tools on first use);
#   2. the NetworkTopology CRD, then `cloudedge run` (scheduler + extender + metrics) on
#      127.0.0.1, its log in $CACHE_DIR/run/operator.log;
#   3. examples/$EXAMPLE (default video-analytics): its fake nodes and its workloads in the
#      namespace cloudedge-demo;
#   4. a table of every pod: node, tier and the scheduler's reason (terms or failure).
#
# The scheduler then keeps running in the foreground until Ctrl-C; DETACH=1 leaves it running
# in the background and returns (stop it with `make stop`).
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
EXAMPLE=${EXAMPLE:-video-analytics}
NAMESPACE=${NAMESPACE:-cloudedge-demo}
METRICS_PORT=${METRICS_PORT:-8080}
EXTENDER_PORT=${EXTENDER_PORT:-8888}
DETACH=${DETACH:-0}
RUN_DIR="$CACHE_DIR/run"
CLOUDEDGE="$ROOT/.venv/bin/cloudedge"
log() { printf '[run] %s\n' "$*" >&2; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

[[ -d "$ROOT/examples/$EXAMPLE" ]] || die "EXAMPLE=$EXAMPLE: no such folder under examples/"
[[ -x "$CLOUDEDGE" ]] || die "$CLOUDEDGE missing: run 'make venv' (make run does)"

if [[ -z "${KUBECONFIG:-}" ]]; then
  log "KUBECONFIG not set: starting the local control plane"
  "$ROOT/hack/cluster-up.sh" >&2
  KUBECONFIG="$CACHE_DIR/clusters/${CLUSTER_NAME:-cloudedge}/kubeconfig"
fi
export KUBECONFIG
KUBECTL=$("$ROOT/hack/build-tools.sh" --print-bindir)/kubectl
[[ -x "$KUBECTL" ]] || KUBECTL=$(command -v kubectl) || die "no kubectl: run 'make tools'"
kubectl() { "$KUBECTL" --request-timeout=30s "$@"; }

kubectl apply -f "$ROOT/charts/cloud-edge-scheduler/crds/" >&2

mkdir -p "$RUN_DIR"
if [[ -f "$RUN_DIR/operator.pid" ]] && kill -0 "$(cat "$RUN_DIR/operator.pid")" 2>/dev/null; then
  log "stopping the scheduler left running by an earlier make run"
  kill "$(cat "$RUN_DIR/operator.pid")" || true
  for _ in $(seq 1 30); do kill -0 "$(cat "$RUN_DIR/operator.pid")" 2>/dev/null || break; sleep 1; done
fi
log "starting cloudedge run (log: $RUN_DIR/operator.log)"
"$CLOUDEDGE" run --kubeconfig "$KUBECONFIG" --bind-address 127.0.0.1 \
  --metrics-port "$METRICS_PORT" --extender-port "$EXTENDER_PORT" --log-format text \
  >"$RUN_DIR/operator.log" 2>&1 &
pid=$!
echo "$pid" >"$RUN_DIR/operator.pid"
stop() { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -f "$RUN_DIR/operator.pid"; }
[[ "$DETACH" == 1 ]] || trap stop EXIT

for i in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { tail -20 "$RUN_DIR/operator.log" >&2; die "cloudedge run exited"; }
  [[ $i == 60 ]] && die "cloudedge run not healthy after 60s (log: $RUN_DIR/operator.log)"
  sleep 1
done
log "scheduler healthy; applying examples/$EXAMPLE into namespace $NAMESPACE"

kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >&2
kubectl apply -f "$ROOT/examples/$EXAMPLE/nodes.yaml" >&2
kubectl wait --for=condition=Ready node -l type=kwok --timeout=60s >&2
sleep 2 # the scheduler's node watch is sub-second; this keeps arrival order = file order
kubectl apply -n "$NAMESPACE" -f "$ROOT/examples/$EXAMPLE/workloads.yaml" >&2

# Settled: every pod of ours exists and either bound or reported unschedulable (bounded wait).
last=""
for _ in $(seq 1 60); do
  now=$("$CLOUDEDGE" placements -n "$NAMESPACE" --kubeconfig "$KUBECONFIG" | tail -1)
  [[ "$now" == "$last" && "$now" != *" 0 of 0 "* ]] && break
  last=$now
  sleep 2
done
"$CLOUDEDGE" placements -n "$NAMESPACE" --kubeconfig "$KUBECONFIG"
cat <<TXT

metrics: http://127.0.0.1:$METRICS_PORT/metrics   extender: http://127.0.0.1:$EXTENDER_PORT
explain one pod: $CLOUDEDGE explain POD -n $NAMESPACE --kubeconfig $KUBECONFIG
TXT
if [[ "$DETACH" == 1 ]]; then
  log "scheduler left running (pid $pid); stop it with 'make stop'"
  exit 0
fi
log "scheduler running; Ctrl-C stops it"
wait "$pid"
