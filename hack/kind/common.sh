# Shared by the hack/kind/ scripts (sourced, not run): pinned versions, the cache layout, and the
# helpers that make every build step cached, timed and atomic.
#
# Cache layout, keyed by the versions of everything inside (a new version is a new directory,
# never an overwrite):
#   $CACHE_DIR/kind/$KIND_KEY/bin/          kind, kubelet, kubeadm, kube-proxy, crictl, coredns, pause
#   $CACHE_DIR/kind/$KIND_KEY/rootfs/       debootstrap filesystems as tarballs
#   $CACHE_DIR/kind/$KIND_KEY/images/       component images saved for preloading into nodes
#   $CACHE_DIR/kind/$KIND_KEY/tmp/          work in progress; a step's output appears in its final
#                                           place only by a rename once the step succeeded
# Docker images are built under tags that carry the same key, so a tag exists only when its
# build finished.

KIND_VERSION=${KIND_VERSION:-v0.33.0}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.6}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
# kubeadm v1.37 asks for pause 3.10.2; kind's containerd config names 3.10 as its sandbox image.
PAUSE_VERSION=3.10.2
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
KIND_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$KIND_HACK_DIR/../.." && pwd)

if [[ -z "${GO:-}" ]]; then
  if [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
GOARCH_HOST=$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
KIND_KEY="k8s-${KUBE_VERSION}_kind-${KIND_VERSION}_${DEBIAN_SUITE}_linux-${GOARCH_HOST}"
KIND_CACHE="$CACHE_DIR/kind/$KIND_KEY"
KIND_BIN="$KIND_CACHE/bin"
KIND_TMP="$KIND_CACHE/tmp"
KIND_LOG_DIR="$CACHE_DIR/logs"
# Tags of the locally built node images (one per role: each preloads only what its role runs),
# keyed by the versions and by the scripts that assemble them: an edit to the recipe is a new tag.
NODE_RECIPE_HASH=$(cat "$KIND_HACK_DIR/common.sh" "$KIND_HACK_DIR/build-node-image.sh" \
  "$KIND_HACK_DIR/node-entrypoint.sh" | sha256sum | cut -c1-10)
NODE_IMAGE_REPO=cloudedge/kind-node
NODE_IMAGE_CONTROL_PLANE="$NODE_IMAGE_REPO:${KUBE_VERSION}-${NODE_RECIPE_HASH}-control-plane"
NODE_IMAGE_WORKER="$NODE_IMAGE_REPO:${KUBE_VERSION}-${NODE_RECIPE_HASH}-worker"
PYTHON_BASE_IMAGE=${PYTHON_BASE_IMAGE:-cloudedge-python-base:$DEBIAN_SUITE}

now() { date +%s; }
kind_log() { printf '[%s] %s\n' "${KIND_LOG_PREFIX:-kind}" "$*" >&2; }
kind_die() {
  printf '%s: %s\n' "${KIND_LOG_PREFIX:-kind}" "$*" >&2
  exit 1
}

# run_logged LOG CMD...: the command's output goes to LOG; on failure its tail is shown.
run_logged() {
  local logfile=$1
  shift
  echo "+ $*" >>"$logfile"
  if ! "$@" >>"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    kind_die "failed: $* (full log: $logfile)"
  fi
}

# step NAME IS_DONE_FN BUILD_FN: runs BUILD_FN unless IS_DONE_FN says the output is there, and
# prints one progress line with the time either way.
step() {
  local name=$1 done_fn=$2 build_fn=$3 t0
  if $done_fn; then
    kind_log "$(printf '%-28s cached' "$name")"
    return 0
  fi
  t0=$(now)
  kind_log "$(printf '%-28s building...' "$name")"
  "$build_fn"
  $done_fn || kind_die "$name: built, but its output is not where it should be"
  kind_log "$(printf '%-28s built in %4ss' "$name" $(($(now) - t0)))"
}

# new_tmp NAME: a fresh work directory for one step; removed by the step on success, and by
# clean_stale_tmp on the next run when the step died half-way.
new_tmp() {
  local d="$KIND_TMP/$1.$$"
  rm -rf "$d"
  mkdir -p "$d"
  echo "$d"
}

# Work directories left by a run that was killed: their owner (the pid in the name) is gone.
clean_stale_tmp() {
  local d pid
  [[ -d "$KIND_TMP" ]] || return 0
  for d in "$KIND_TMP"/*.* "$KIND_BIN"/.*.tmp.*; do
    [[ -e "$d" ]] || continue
    pid=${d##*.}
    if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
      kind_log "removing $(basename "$d"): half-built by an interrupted run (pid $pid)"
      # debootstrap may have left /proc or /sys mounted inside it: unmount, and never let rm
      # cross into a mount.
      awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" || true
      done
      if awk -v d="$d/" 'index($2, d) == 1 {found = 1} END {exit !found}' /proc/mounts; then
        kind_die "$d still has mounts inside; unmount them and remove it by hand"
      fi
      rm -rf --one-file-system "$d"
    fi
  done
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
# Images made from files carry a digest of those files in this label, so that a rebuilt binary
# makes a new image even where the tag (a version) stays the same.
INPUTS_LABEL=io.cloudedge.inputs
files_digest() { cat "$@" | sha256sum | cut -c1-16; }
image_inputs() { docker image inspect --format "{{index .Config.Labels \"$INPUTS_LABEL\"}}" "$1" 2>/dev/null || true; }

# The Debian mirror this machine's apt uses, read at run time (never written into the repo).
apt_mirror() {
  local m=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [[ -n "$m" ]] || kind_die "no Debian mirror found in /etc/apt/sources.list{,.d}; debootstrap needs one"
  echo "$m"
}

# Docker must answer before any image step; hack/docker-up.sh starts it when this machine has
# none running.
require_docker() {
  command -v docker >/dev/null ||
    kind_die "docker is not installed: kind runs its nodes as Docker containers (hack/install-deps.sh installs Debian's docker.io)"
  timeout 20 docker info >/dev/null 2>&1 ||
    kind_die "the Docker daemon does not answer (docker info); start it with hack/docker-up.sh (needs root) or your system's service manager"
}

# thaw_cluster NAME: thaw every frozen cgroup v1 freezer under the cluster's node containers.
# A machine stopped while runc was starting a container inside a node leaves that container's
# cgroup FROZEN; when dockerd starts the node again its `runc init` sleeps there for good, and
# `docker rm -f` (so `kind delete cluster`) fails with "did not receive an exit event". Thawed,
# the node stops and deletes normally (measured on this host after a restart).
thaw_cluster() {
  local id state
  for id in $(docker ps -aq --no-trunc --filter "label=io.x-k8s.kind.cluster=$1" 2>/dev/null); do
    [[ -d /sys/fs/cgroup/freezer/docker/$id ]] || continue
    while IFS= read -r state; do
      if [[ $(cat "$state" 2>/dev/null) == FROZEN ]]; then
        kind_log "thawing a frozen cgroup of node container ${id:0:12} (${state#/sys/fs/cgroup/freezer/docker/"$id"/})"
        echo THAWED >"$state" 2>/dev/null || kind_log "could not thaw $state (not root?)"
      fi
    done < <(find "/sys/fs/cgroup/freezer/docker/$id" -name freezer.state 2>/dev/null)
  done
}

# require_disk DIR GIB WHAT: a clear message before a step that would fill the disk half-way.
require_disk() {
  local dir=$1 need_gib=$2 what=$3 avail_kib
  mkdir -p "$dir"
  avail_kib=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
  if ((avail_kib < need_gib * 1024 * 1024)); then
    kind_die "not enough disk for $what: $((avail_kib / 1024 / 1024)) GiB free in $dir, ${need_gib} GiB needed"
  fi
}

# The two Debian filesystems (hack/kind/build-filesystems.sh makes both; the image scripts use
# them): the node's, and the Python base's that `make image` and the testbed's task build on.
NODE_PACKAGES=systemd,dbus,containerd,runc,containernetworking-plugins,iptables,nftables,iproute2,conntrack,ethtool,kmod,libseccomp2,pigz,ca-certificates,procps,util-linux,mount,e2fsprogs
NODE_ROOTFS_TAR="$KIND_CACHE/rootfs/node-$DEBIAN_SUITE.tar"
PYTHON_PACKAGES=python3,python3-venv,ca-certificates
PYTHON_ROOTFS_TAR="$KIND_CACHE/rootfs/python-base-$DEBIAN_SUITE.tar"
node_rootfs_done() { [[ -f "$NODE_ROOTFS_TAR" ]]; }
node_rootfs_build() { debootstrap_tar "$NODE_ROOTFS_TAR" "$NODE_PACKAGES"; }
python_rootfs_done() { [[ -f "$PYTHON_ROOTFS_TAR" ]]; }
python_rootfs_build() { debootstrap_tar "$PYTHON_ROOTFS_TAR" "$PYTHON_PACKAGES"; }

# debootstrap_tar OUT_TAR PACKAGES: a Debian $DEBIAN_SUITE minbase filesystem with PACKAGES
# (comma-separated), packed as OUT_TAR. Built in a work directory and renamed into place, so
# OUT_TAR exists only complete. Downloaded .debs are kept in $CACHE_DIR/debootstrap-debs for the
# next filesystem. Needs root (debootstrap chroots).
debootstrap_tar() {
  local out=$1 packages=$2 work log mirror
  [[ $(id -u) -eq 0 ]] || kind_die "debootstrap needs root"
  command -v debootstrap >/dev/null ||
    kind_die "debootstrap is not installed (hack/install-deps.sh installs it)"
  require_disk "$KIND_CACHE" 3 "a debootstrap filesystem"
  mirror=$(apt_mirror)
  work=$(new_tmp "$(basename "$out" .tar)")
  log="$KIND_LOG_DIR/debootstrap-$(basename "$out" .tar).log"
  mkdir -p "$CACHE_DIR/debootstrap-debs" "$(dirname "$out")"
  : >"$log"
  # The log names the mirror as <apt mirror>: its host is read at run time, never written down.
  if ! debootstrap --variant=minbase --include="$packages" \
    --cache-dir="$CACHE_DIR/debootstrap-debs" "$DEBIAN_SUITE" "$work/rootfs" "$mirror" 2>&1 |
    sed "s|$mirror|<apt mirror>|g" >>"$log"; then
    tail -n 40 "$log" >&2
    kind_die "debootstrap failed (full log: $log)"
  fi
  # No package lists, no apt caches, no logs: nothing in the image that names the mirror.
  rm -rf "$work/rootfs/var/lib/apt/lists"/* "$work/rootfs/var/cache/apt"/*.bin \
    "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/log"/*.log \
    "$work/rootfs/debootstrap"
  : >"$work/rootfs/etc/apt/sources.list"
  [[ -n "${DEBOOTSTRAP_CUSTOMIZE:-}" ]] && "$DEBOOTSTRAP_CUSTOMIZE" "$work/rootfs"
  tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/rootfs.tar" .
  mv -f "$work/rootfs.tar" "$out"
  rm -rf "$work"
}
