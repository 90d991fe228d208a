#!/usr/bin/env bash
# Builds kind node images from upstream sources, for hosts where the official kindest/node image
# cannot be pulled (no registry reachable). Steps, each cached and timed (common.sh):
#   1. the binaries (build-binaries.sh), plus the control-plane tools of hack/build-tools.sh;
#   2. a Debian filesystem by debootstrap with systemd, containerd, runc, the CNI plugins,
#      iptables/nftables and iproute2 (tc, for the testbed's traffic shaping);
#   3. the component images kubeadm asks for, each a static binary FROM scratch under the exact
#      name `kubeadm config images list` prints: kube-apiserver, kube-controller-manager,
#      kube-scheduler, etcd, pause, kube-proxy (plus nft and its libraries), coredns;
#   4. the node image: the filesystem, kind's own files from its module source
#      (images/base/files: entrypoint, systemd units, containerd config), kubelet, kubeadm,
#      kubectl, crictl; then one image per role with only the component images that role runs
#      imported into its containerd (KIND-HERE: every image on every node costs 1.45 GB a node).
# Prints the two image tags (control plane, worker) on stdout.
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-build
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_docker
mkdir -p "$KIND_CACHE/rootfs" "$KIND_CACHE/images" "$KIND_TMP" "$KIND_LOG_DIR"
LOG_FILE="$KIND_LOG_DIR/kind-node-image-$KIND_KEY.log"
: >"$LOG_FILE"

# --- 1. binaries -----------------------------------------------------------------------------
"$KIND_HACK_DIR/build-binaries.sh"
"$REPO_DIR/hack/build-tools.sh" >&2
TOOLS_BIN=$("$REPO_DIR/hack/build-tools.sh" --print-bindir)
exec 9>"$KIND_CACHE/.node-image.lock"
flock 9
clean_stale_tmp
for b in kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do
  # FROM scratch holds no libc: a dynamically linked binary would not start.
  if ldd "$TOOLS_BIN/$b" >/dev/null 2>&1; then
    kind_die "$TOOLS_BIN/$b is dynamically linked; the control-plane images need static binaries (CGO_ENABLED=0)"
  fi
done
ETCD_TAG=$("$TOOLS_BIN/etcd" --version | awk '/^etcd Version:/ {print $3}')
[[ -n "$ETCD_TAG" ]] || kind_die "cannot read the version of $TOOLS_BIN/etcd"
KIND_MOD_DIR=$("$GO" env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION
if [[ ! -d "$KIND_MOD_DIR/images/base/files" ]]; then
  (cd "$KIND_TMP" && GOFLAGS=-mod=mod GOTOOLCHAIN=local run_logged "$LOG_FILE" "$GO" mod download "sigs.k8s.io/kind@$KIND_VERSION")
fi

# --- 2. node filesystem ----------------------------------------------------------------------
ROOTFS_TAR=$NODE_ROOTFS_TAR
ROOTFS_IMAGE="cloudedge/kind-rootfs:$KIND_KEY"
step "node filesystem (debootstrap)" node_rootfs_done node_rootfs_build
rootfs_image_done() { image_exists "$ROOTFS_IMAGE"; }
rootfs_image_build() { docker import "$ROOTFS_TAR" "$ROOTFS_IMAGE" >/dev/null; }
step "node filesystem image" rootfs_image_done rootfs_image_build

# --- 3. component images ---------------------------------------------------------------------
# image_from_scratch TAG BINARY ENTRYPOINT_JSON [EXTRA_DIR]: the binary at /usr/local/bin (or the
# path the entrypoint names), nothing else but EXTRA_DIR's tree. Saved for preloading.
save_path() { echo "$KIND_CACHE/images/$(echo "$1" | tr '/:' '__').tar"; }
image_from_scratch() {
  local tag=$1 bin=$2 entry=$3 extra=${4:-} ctx dest
  ctx=$(new_tmp "image-$(basename "$bin")")
  dest=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0])' "$entry")
  mkdir -p "$ctx/root$(dirname "$dest")"
  cp "$bin" "$ctx/root$dest"
  [[ -n "$extra" ]] && cp -a "$extra/." "$ctx/root/"
  cat >"$ctx/Dockerfile" <<EOD
FROM scratch
LABEL $INPUTS_LABEL=$(files_digest "$bin")
COPY root/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
ENTRYPOINT $entry
EOD
  run_logged "$LOG_FILE" docker build --quiet --tag "$tag" "$ctx"
  docker save "$tag" -o "$(save_path "$tag").tmp.$$"
  mv -f "$(save_path "$tag").tmp.$$" "$(save_path "$tag")"
  rm -rf "$ctx"
}
component_done() { # component_done TAG BINARY: built from this very binary, and saved
  image_exists "$1" && [[ -f "$(save_path "$1")" ]] && [[ "$(image_inputs "$1")" == "$(files_digest "$2")" ]]
}

# kube-proxy in nftables mode runs `nft`: copy it and its shared libraries from the node's
# filesystem, so that the image stays small and the versions match the node's kernel tooling.
nft_tree() {
  local out=$1
  mkdir -p "$out"
  docker run --rm --network none "$ROOTFS_IMAGE" sh -c '
    set -e
    files="/usr/sbin/nft $(ldd /usr/sbin/nft | awk "/=>/ {print \$3} !/=>/ && /^\t\// {print \$1}")"
    tar -ch $files 2>/dev/null' | tar -x -C "$out"
}

declare -A COMPONENTS=(
  [kube-apiserver]="registry.k8s.io/kube-apiserver:$KUBE_VERSION"
  [kube-controller-manager]="registry.k8s.io/kube-controller-manager:$KUBE_VERSION"
  [kube-scheduler]="registry.k8s.io/kube-scheduler:$KUBE_VERSION"
  [kube-proxy]="registry.k8s.io/kube-proxy:$KUBE_VERSION"
  [etcd]="registry.k8s.io/etcd:$ETCD_TAG"
  [pause]="registry.k8s.io/pause:$PAUSE_VERSION"
  [coredns]="registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
)
for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
  eval "build_image_$c() { image_from_scratch '${COMPONENTS[$c]}' '$TOOLS_BIN/$c' '[\"/usr/local/bin/$c\"]'; }"
  step "image $c" "component_done ${COMPONENTS[$c]} $TOOLS_BIN/$c" "build_image_$c"
done
build_image_kube_proxy() {
  local extra
  extra=$(new_tmp nft)
  nft_tree "$extra"
  image_from_scratch "${COMPONENTS[kube-proxy]}" "$KIND_BIN/kube-proxy" '["/usr/local/bin/kube-proxy"]' "$extra"
  rm -rf "$extra"
}
step "image kube-proxy" "component_done ${COMPONENTS[kube-proxy]} $KIND_BIN/kube-proxy" build_image_kube_proxy
build_image_pause() {
  image_from_scratch "${COMPONENTS[pause]}" "$KIND_BIN/pause" '["/pause"]'
  # kind's containerd config names 3.10 as the sandbox image: the same image, a second name.
  docker tag "${COMPONENTS[pause]}" registry.k8s.io/pause:3.10
  docker save "${COMPONENTS[pause]}" registry.k8s.io/pause:3.10 -o "$(save_path "${COMPONENTS[pause]}").tmp.$$"
  mv -f "$(save_path "${COMPONENTS[pause]}").tmp.$$" "$(save_path "${COMPONENTS[pause]}")"
}
step "image pause" "component_done ${COMPONENTS[pause]} $KIND_BIN/pause" build_image_pause
build_image_coredns() { image_from_scratch "${COMPONENTS[coredns]}" "$KIND_BIN/coredns" '["/coredns"]'; }
step "image coredns" "component_done ${COMPONENTS[coredns]} $KIND_BIN/coredns" build_image_coredns

# --- 4. node images --------------------------------------------------------------------------
NODE_BASE_IMAGE="cloudedge/kind-node-base:${KUBE_VERSION}-${NODE_RECIPE_HASH}"
NODE_BASE_FILES=("$KIND_BIN/kubelet" "$KIND_BIN/kubeadm" "$TOOLS_BIN/kubectl" "$KIND_BIN/crictl")
node_base_done() { [[ "$(image_inputs "$NODE_BASE_IMAGE")" == "$(files_digest "${NODE_BASE_FILES[@]}")" ]]; }
node_base_build() {
  local ctx
  ctx=$(new_tmp node-base)
  mkdir -p "$ctx/files" "$ctx/bin"
  cp -a "$KIND_MOD_DIR/images/base/files/." "$ctx/files/"
  chmod -R u+w "$ctx/files"
  rm -rf "$ctx/files/LICENSES"
  cp "${NODE_BASE_FILES[@]}" "$ctx/bin/"
  cp "$KIND_HACK_DIR/node-entrypoint.sh" "$ctx/bin/cloudedge-node-entrypoint"
  echo "$KUBE_VERSION" >"$ctx/version"
  # containerd's default OCI spec without rlimits, as kind's images/base/Dockerfile makes it,
  # but without kind's createContainer hook (mount-product-files.sh, a per-container copy of
  # the node's product_uuid): the hook needs jq, which this filesystem leaves out, and nothing
  # that runs here reads product_uuid.
  docker run --rm --network none "$ROOTFS_IMAGE" ctr oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec["process"].pop("rlimits", None)
json.dump(spec, sys.stdout, indent=2)' >"$ctx/cri-base.json"
  cat >"$ctx/Dockerfile" <<EOD
FROM $ROOTFS_IMAGE
LABEL $INPUTS_LABEL=$(files_digest "${NODE_BASE_FILES[@]}")
COPY files/ /
COPY bin/kubelet bin/kubeadm bin/kubectl /usr/bin/
COPY bin/crictl bin/cloudedge-node-entrypoint /usr/local/bin/
COPY cri-base.json /etc/containerd/cri-base.json
COPY version /kind/version
# kind's base recipe (images/base/Dockerfile), with Debian's containerd, runc and CNI plugins
# in place of the ones kind builds.
RUN chmod 0755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \\
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \\
 && mkdir -p /opt/cni && ln -sfn /usr/lib/cni /opt/cni/bin \\
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests /var/lib/containerd \\
 && rm -f /etc/machine-id && touch /etc/machine-id
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/cloudedge-node-entrypoint", "/sbin/init"]
EOD
  run_logged "$LOG_FILE" docker build --tag "$NODE_BASE_IMAGE" "$ctx"
  rm -rf "$ctx"
}
step "node base image" node_base_done node_base_build

# role_image TAG COMPONENT...: the node base with those images in its containerd's content
# store, imported unpacked-on-demand (`--no-unpack`) as `kind build node-image` does. (kind also
# pins them against image GC, a label Debian's ctr 1.6 cannot set; kind's kubelet config turns
# image GC off anyway: imageGCHighThresholdPercent 100.)
role_image() {
  local tag=$1 name="cloudedge-kind-build-$$" c
  shift
  docker rm -f "$name" >/dev/null 2>&1 || true
  run_logged "$LOG_FILE" docker run -d --name "$name" --network none --entrypoint containerd \
    "$NODE_BASE_IMAGE"
  # containerd answers in a second or two; 60 tries bound the wait.
  for _ in $(seq 1 60); do docker exec "$name" ctr version >/dev/null 2>&1 && break; sleep 1; done
  for c in "$@"; do
    docker exec -i "$name" ctr --namespace=k8s.io images import --no-unpack --all-platforms \
      --digests - <"$(save_path "${COMPONENTS[$c]}")" \
      >>"$LOG_FILE" 2>&1 || { docker rm -f "$name" >/dev/null; kind_die "importing $c into $tag failed (log: $LOG_FILE)"; }
  done
  docker exec "$name" ctr --namespace=k8s.io images list -q >>"$LOG_FILE"
  docker stop --time 10 "$name" >/dev/null
  run_logged "$LOG_FILE" docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/cloudedge-node-entrypoint", "/sbin/init"]' \
    --change 'CMD []' --change "LABEL $INPUTS_LABEL=$(role_inputs "$@")" "$name" "$tag"
  docker rm -f "$name" >/dev/null
}
# The control plane runs the static pods, kube-proxy and CoreDNS (kept there so that the
# workers' allocatable is the seed's, whole); workers run kube-proxy and pod sandboxes.
# role_inputs COMPONENT...: the base's inputs and each component image's, as one digest.
role_inputs() {
  local c
  {
    image_inputs "$NODE_BASE_IMAGE"
    for c in "$@"; do image_inputs "${COMPONENTS[$c]}"; done
  } | sha256sum | cut -c1-16
}
CP_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler etcd kube-proxy pause coredns)
WORKER_COMPONENTS=(kube-proxy pause)
cp_done() { [[ "$(image_inputs "$NODE_IMAGE_CONTROL_PLANE")" == "$(role_inputs "${CP_COMPONENTS[@]}")" ]]; }
cp_build() {
  role_image "$NODE_IMAGE_CONTROL_PLANE" "${CP_COMPONENTS[@]}"
}
worker_done() { [[ "$(image_inputs "$NODE_IMAGE_WORKER")" == "$(role_inputs "${WORKER_COMPONENTS[@]}")" ]]; }
worker_build() { role_image "$NODE_IMAGE_WORKER" "${WORKER_COMPONENTS[@]}"; }
step "node image (control plane)" cp_done cp_build
step "node image (worker)" worker_done worker_build
printf '%s\n%s\n' "$NODE_IMAGE_CONTROL_PLANE" "$NODE_IMAGE_WORKER"
