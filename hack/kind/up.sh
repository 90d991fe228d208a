#!/usr/bin/env bash
# `make kind-up`: a kind cluster with the seed's topology (hack/kind/cluster-config.py): one
# control plane, 3 cloud workers (bandwidth 1000) and 5 edge workers (bandwidth 500) named and
# sized as examples/seed/nodes.yaml, or 1 + 1 + 1 with KIND_TOPOLOGY=small. Idempotent: a
# cluster of that name that exists is reused (and checked), never recreated.
#
# Node image: KIND_NODE_IMAGE=official uses kind's own kindest/node (pulled; workstations),
# KIND_NODE_IMAGE=local builds them here from sources (hack/kind/build-node-image.sh),
# KIND_NODE_IMAGE=<image> uses that image for every node; unset, the official image is used
# when it is present or can be pulled, else the local build.
# Environment: KIND_CLUSTER_NAME (default cloudedge), KIND_TOPOLOGY (seed|small),
#   CACHE_DIR. Prints `export KUBECONFIG=...` on stdout; progress goes to stderr.
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-up
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=hack/kind/delete-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/delete-cluster.sh"

KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-cloudedge}
KIND_TOPOLOGY=${KIND_TOPOLOGY:-seed}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-}
STATE_DIR="$CACHE_DIR/clusters/kind-$KIND_CLUSTER_NAME"
KUBECONFIG_PATH="$STATE_DIR/kubeconfig"
t_start=$(now)

case "$KIND_TOPOLOGY" in
  seed) workers=8 ;;
  small) workers=2 ;;
  *) kind_die "KIND_TOPOLOGY=$KIND_TOPOLOGY: expected seed (1 + 3 cloud + 5 edge) or small (1 + 1 + 1)" ;;
esac

# --- Docker ------------------------------------------------------------------------------------
command -v docker >/dev/null ||
  kind_die "docker is not installed: kind runs its nodes as Docker containers (hack/install-deps.sh installs Debian's docker.io)"
if ! timeout 20 docker info >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    "$REPO_DIR/hack/docker-up.sh" >&2 || kind_die "no Docker daemon answers, and it could not be started (above)"
  else
    kind_die "the Docker daemon does not answer (docker info); start it, or run hack/docker-up.sh as root"
  fi
fi

"$KIND_HACK_DIR/build-binaries.sh" kind
KIND="$KIND_BIN/kind"
"$REPO_DIR/hack/build-tools.sh" >&2
KUBECTL="$("$REPO_DIR/hack/build-tools.sh" --print-bindir)/kubectl"
kc() { timeout 120 "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# --- Capabilities ------------------------------------------------------------------------------
# CAP_SYS_RESOURCE is bit 24 of the bounding set. Without it, --privileged cannot be granted
# (docker-shim/docker) and runc cannot lower oom_score_adj (containerd's restrict_oom_score_adj).
capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
limited_caps=""
if (((16#$capbnd >> 24 & 1) == 0)); then limited_caps=1; fi
kind_env=()
if [[ -n "$limited_caps" ]]; then
  kind_log "this host's capability bounding set ($capbnd) lacks CAP_SYS_RESOURCE: nodes run with every other capability (hack/kind/docker-shim)"
  kind_env=(env "CLOUDEDGE_REAL_DOCKER=$(command -v docker)" "PATH=$KIND_HACK_DIR/docker-shim:$PATH")
fi

# --- inotify limits ----------------------------------------------------------------------------
# Every node container's systemd, dbus, containerd, kube-proxy and kubelet hold inotify instances
# of the host's root user: nine nodes need about 130, Debian's default limit is 128, and a
# kubelet that starts past it exits ("Failed to start cAdvisor: inotify_init: too many open
# files"), leaving its node's pods Pending (the testbed restarts kubelets; one stayed down). The
# limits kind's documentation gives for many-node clusters; raised, never lowered.
ensure_sysctl() { # name minimum
  local current
  current=$(cat "/proc/sys/${1//.//}")
  ((current >= $2)) && return 0
  if [[ $(id -u) -eq 0 ]] && echo "$2" >"/proc/sys/${1//.//}" 2>/dev/null; then
    kind_log "$1 raised from $current to $2"
  else
    kind_die "$1 is $current: a $((workers + 1))-node cluster needs $2 (as root: sysctl -w $1=$2)"
  fi
}
ensure_sysctl fs.inotify.max_user_instances 512
ensure_sysctl fs.inotify.max_user_watches 524288

# Whether the `kubernetes` Service accepts a connection from the control-plane node within
# $1 seconds: kube-proxy's rules route Service IPs, which pods rely on.
service_answers() {
  local ip deadline
  ip=$(kc get service kubernetes -n default -o jsonpath='{.spec.clusterIP}' 2>/dev/null) || return 1
  deadline=$(($(now) + $1))
  while true; do
    docker exec "$KIND_CLUSTER_NAME-control-plane" timeout 3 bash -c "exec 3<>/dev/tcp/$ip/443" \
      >/dev/null 2>&1 && return 0
    (($(now) >= deadline)) && return 1
    sleep 2
  done
}

# Whether a kube-proxy of the cluster logged "Failed to list existing sets": it does so when its
# node container comes back after a dockerd restart, and from then on its nftables rules are
# not to be trusted (the Service IPs answered at first, then lost their map entries and
# refused every connection: measured twice).
proxy_broken() {
  kc logs -n kube-system -l k8s-app=kube-proxy --tail=-1 2>/dev/null |
    grep -q "Failed to list existing sets"
}

# Whether a node container of the cluster was started again well after it was created (a
# dockerd restart, a reboot). Its kube-proxy comes back with nftables state that decays:
# after one such restart it logged nothing about it, its Service IPs answered, and about an
# hour later the service-ips map of most nodes was empty and every Service IP refused
# (measured; the kind suite then failed). Such a cluster is not worth reusing.
nodes_restarted() {
  local c created started
  for c in $(docker ps -q --filter "label=io.x-k8s.kind.cluster=$KIND_CLUSTER_NAME"); do
    created=$(date -d "$(docker inspect -f '{{.Created}}' "$c")" +%s)
    started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$c")" +%s)
    ((started - created > 300)) && return 0
  done
  return 1
}

# --- An existing cluster -----------------------------------------------------------------------
mkdir -p "$STATE_DIR"
if "$KIND" get clusters 2>/dev/null | grep -x "$KIND_CLUSTER_NAME" >/dev/null; then
  kind_log "kind cluster $KIND_CLUSTER_NAME already exists: reusing it (make kind-down KIND_CLUSTER_NAME=$KIND_CLUSTER_NAME deletes it)"
  "${kind_env[@]}" "$KIND" export kubeconfig --name "$KIND_CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >&2
  # After a reboot or a dockerd restart its node containers may be stopped, and a control plane
  # just started answers 403 (its RBAC not loaded yet) or nothing for a while: wait for it.
  stopped=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$KIND_CLUSTER_NAME" --filter status=exited)
  if [[ -n "$stopped" ]]; then
    kind_log "starting its $(wc -w <<<"$stopped") stopped node containers"
    # shellcheck disable=SC2086
    docker start $stopped >/dev/null
  fi
  t0=$(now)
  for _ in $(seq 1 90); do
    kc get nodes >/dev/null 2>&1 && break
    sleep 2
  done
  kc get nodes >/dev/null || kind_die "the existing cluster's API server does not answer after $(($(now) - t0)) s (make kind-down KIND_CLUSTER_NAME=$KIND_CLUSTER_NAME deletes it)"
  # After a dockerd restart the nodes read Ready, but kube-proxy (nftables) logs "Failed to
  # list existing sets" and the Service IPs refuse connections, at once or later: pods that
  # talk to the API server through the `kubernetes` Service never start. Restarting
  # kube-proxy does not mend it (measured); a new cluster does, so such a cluster is replaced.
  if nodes_restarted || proxy_broken || ! service_answers 60; then
    kind_log "the existing cluster's nodes were restarted after it was made, and its kube-proxy then fails (its Service IPs refuse connections, now or later): deleting it and creating it again"
    delete_cluster "$KIND_CLUSTER_NAME" "${kind_env[@]}" "$KIND" delete cluster --name "$KIND_CLUSTER_NAME"
    exec "$0" "$@"
  fi
else
  # --- Node image ------------------------------------------------------------------------------
  official=$(grep -o 'kindest/node:v[0-9.]*@sha256:[0-9a-f]*' \
    "$("$GO" env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION/pkg/apis/config/defaults/image.go" 2>/dev/null || true)
  cp_image="" worker_image="" etcd_tag=""
  case "$KIND_NODE_IMAGE" in
    "" | official)
      if [[ -n "$official" ]] && { image_exists "$official" || timeout 120 docker pull "$official" >/dev/null 2>&1; }; then
        kind_log "node image: $official (kind's official image)"
        cp_image=$official worker_image=$official
      elif [[ "$KIND_NODE_IMAGE" == official ]]; then
        kind_die "KIND_NODE_IMAGE=official: the official node image ${official} cannot be pulled here (KIND_NODE_IMAGE=local builds one)"
      else
        kind_log "kind's official node image cannot be pulled here: building one from sources"
        KIND_NODE_IMAGE=local
      fi
      ;;
  esac
  case "$KIND_NODE_IMAGE" in
    local)
      require_disk "$KIND_CACHE" 6 "building the node images"
      "$KIND_HACK_DIR/build-node-image.sh" >/dev/null
      cp_image=$NODE_IMAGE_CONTROL_PLANE worker_image=$NODE_IMAGE_WORKER
      etcd_tag=$(docker image ls --format '{{.Tag}}' registry.k8s.io/etcd | head -1)
      kind_log "node images: $cp_image, $worker_image (built here)"
      ;;
    "" | official) ;;
    *) cp_image=$KIND_NODE_IMAGE worker_image=$KIND_NODE_IMAGE ;;
  esac

  # Each node's /var is a Docker volume of about 1 GB once its images are unpacked.
  docker_root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)
  require_disk "$docker_root" $((2 + (workers + 1) * 6 / 10)) "a kind cluster of $((workers + 1)) nodes"

  config=$(python3 "$KIND_HACK_DIR/cluster-config.py" --name "$KIND_CLUSTER_NAME" \
    --topology "$KIND_TOPOLOGY" --state-dir "$STATE_DIR" \
    --control-plane-image "$cp_image" --worker-image "$worker_image" --etcd-tag "$etcd_tag" \
    ${limited_caps:+--restrict-oom-score-adj})
  kind_log "creating kind cluster $KIND_CLUSTER_NAME ($KIND_TOPOLOGY: 1 + $workers nodes; config: $config)"
  t0=$(now)
  # kind deletes what it made when creation fails; 15 min bounds a hung node start.
  if ! timeout 900 "${kind_env[@]}" "$KIND" create cluster --name "$KIND_CLUSTER_NAME" \
    --config "$config" --kubeconfig "$KUBECONFIG_PATH" >&2; then
    kind_die "kind create cluster failed (above); nothing of it is left running (kind cleans up)"
  fi
  kind_log "$(printf '%-28s %4ss' "created" $(($(now) - t0)))"
fi

# --- Pod network: ptp + host-local on each node, routes between nodes' pod CIDRs ---------------
# kind's kindnetd image cannot be built here (its module is not served by the Go proxy); the
# CNI plugins ptp, host-local and portmap are in every node image, kind's official one too.
# Every container's node must have registered: `kind create` can return before the last
# kubelet has, and a node missing from the list would get no CNI config and stay NotReady.
t0=$(now)
expected=$("$KIND" get nodes --name "$KIND_CLUSTER_NAME" | wc -l)
nodes_json=""
for _ in $(seq 1 60); do
  nodes_json=$(kc get nodes -o json) || { sleep 2; continue; }
  if python3 -c 'import json,sys; n=json.load(sys.stdin)["items"]; sys.exit(0 if len(n) == int(sys.argv[1]) and all(i["spec"].get("podCIDR") for i in n) else 1)' "$expected" <<<"$nodes_json"; then
    break
  fi
  sleep 2
done
mapfile -t node_rows < <(python3 -c '
import json, sys
for n in json.load(sys.stdin)["items"]:
    ip = next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
    print(n["metadata"]["name"], ip, n["spec"].get("podCIDR", ""))' <<<"$nodes_json")
declare -A container_of=()
for c in $("$KIND" get nodes --name "$KIND_CLUSTER_NAME"); do
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
  container_of[$ip]=$c
done
[[ ${#node_rows[@]} -eq $expected ]] ||
  kind_die "${#node_rows[@]} of $expected nodes registered after 120 s: $(kc get nodes --no-headers | tr '\n' ';')"
for row in "${node_rows[@]}"; do
  read -r name ip cidr <<<"$row"
  [[ -n "$cidr" ]] || kind_die "node $name has no pod CIDR after 120 s (kube-controller-manager allocates them)"
  container=${container_of[$ip]:-}
  [[ -n "$container" ]] || kind_die "no container of cluster $KIND_CLUSTER_NAME has node $name's address $ip"
  # One exec a node (each costs a second on a busy host): the CNI config, then the routes.
  routes=""
  for other in "${node_rows[@]}"; do
    read -r oname oip ocidr <<<"$other"
    [[ "$oname" == "$name" ]] || routes+="ip route replace $ocidr via $oip; "
  done
  docker exec -i "$container" sh -ec "mkdir -p /etc/cni/net.d
cat > /etc/cni/net.d/10-cloudedge-ptp.conflist.tmp
mv /etc/cni/net.d/10-cloudedge-ptp.conflist.tmp /etc/cni/net.d/10-cloudedge-ptp.conflist
$routes" <<EOF_CNI
{
  "cniVersion": "0.4.0",
  "name": "cloudedge",
  "plugins": [
    {"type": "ptp", "ipMasq": false, "mtu": 1500,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF_CNI
done
kind_log "$(printf '%-28s %4ss' "pod network (ptp)" $(($(now) - t0)))"

# --- Ready -------------------------------------------------------------------------------------
t0=$(now)
kc wait --for=condition=Ready node --all --timeout=300s >/dev/null ||
  kind_die "nodes not Ready after 300 s: $(kc get nodes --no-headers | tr '\n' ';')"
# CoreDNS on the control plane (the workers' allocatable stays whole for the workloads), and
# answering for the cluster only: no `forward`, nothing resolves outside it. Done once: a
# reused cluster already has it, and is not disturbed.
if kc -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}' | grep 'forward ' >/dev/null; then
  kc -n kube-system patch deployment coredns --type merge -p \
    '{"spec":{"template":{"spec":{"nodeSelector":{"node-role.kubernetes.io/control-plane":""}}}}}' >/dev/null
  kc -n kube-system get configmap coredns -o json | python3 -c '
import json, sys
cm = json.load(sys.stdin)
out, skip = [], False
for line in cm["data"]["Corefile"].splitlines():
    s = line.strip()
    if s.startswith("forward "):
        skip = s.endswith("{")
        continue
    if skip:
        skip = not s.startswith("}")
        continue
    out.append(line)
cm["data"]["Corefile"] = "\n".join(out) + "\n"
json.dump(cm, sys.stdout)' | kc replace -f - >/dev/null
  kc -n kube-system rollout restart deployment coredns >/dev/null
fi
kc -n kube-system rollout status deployment coredns --timeout=180s >/dev/null ||
  kind_die "CoreDNS not available after 180 s"
for _ in $(seq 1 60); do
  kc get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 1
done
kind_log "$(printf '%-28s %4ss' "nodes Ready, DNS up" $(($(now) - t0)))"
kc get nodes -L cloudedge.io/tier -L cloudedge.io/bandwidth-mbps -L cloudedge.io/site >&2
kind_log "kind cluster $KIND_CLUSTER_NAME up in $(($(now) - t_start))s"
echo "export KUBECONFIG=$KUBECONFIG_PATH"
