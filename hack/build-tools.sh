#!/usr/bin/env bash
# Builds the local control plane's tools from upstream Go modules at pinned versions, through the
# Go module proxy: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
# etcd and etcdctl (go.etcd.io/etcd), kwok and kwokctl (sigs.k8s.io/kwok), helm (helm.sh/helm/v3).
#
# Usage: hack/build-tools.sh                 build what is missing, print one line per tool
#        hack/build-tools.sh --print-bindir  print the bin directory for these versions, build nothing
#        hack/build-tools.sh --check         exit 0 when every tool is built and answers, else 1
#
# Outputs: ${CACHE_DIR:-$HOME/.cache/cloudedge}/bin/<version-key>/<tool>. Each tool lives in a small
# Go module of ours generated under ${CACHE_DIR}/src/<version-key>/ (never committed); the
# k8s.io/kubernetes one pins every k8s.io/* staging module with `replace` directives. A tool that
# exists and answers its version command is not rebuilt, so a second run builds nothing.
set -o errexit -o nounset -o pipefail

# Pinned versions. Kubernetes: the newest release on the proxy whose go.mod accepts this Go (1.26).
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}

CACHE_DIR=${CACHE_DIR:-$HOME/.cache/cloudedge}
GO=${GO:-}
if [[ -z "$GO" ]]; then
  if [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi

goos_goarch() {
  if [[ -n "$GO" ]]; then "$GO" env GOOS GOARCH | paste -sd- -; else echo "$(uname -s | tr '[:upper:]' '[:lower:]')-amd64"; fi
}
VERSION_KEY="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_$(goos_goarch)"
BIN_DIR="$CACHE_DIR/bin/$VERSION_KEY"
SRC_DIR="$CACHE_DIR/src/$VERSION_KEY"
LOG_FILE="$CACHE_DIR/logs/build-tools-$VERSION_KEY.log"

TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd etcdctl kwok kwokctl helm)

# The command that makes a tool print its version, and the text that output must contain.
version_of() {
  local tool=$1 bin="$BIN_DIR/$1"
  case "$tool" in
    kubectl) timeout 20 "$bin" version --client 2>&1 ;;
    etcdctl) timeout 20 "$bin" version 2>&1 ;;
    helm) timeout 20 "$bin" version --short 2>&1 ;;
    *) timeout 20 "$bin" --version 2>&1 ;;
  esac
}
expected_version() {
  case "$1" in
    kube-* | kubectl) echo "$KUBE_VERSION" ;;
    etcd | etcdctl) echo "${ETCD_VERSION#v}" ;;
    kwok | kwokctl) echo "${KWOK_VERSION#v}" ;;
    helm) echo "$HELM_VERSION" ;;
  esac
}
tool_ok() {
  local tool=$1 out
  [[ -x "$BIN_DIR/$tool" ]] || return 1
  out=$(version_of "$tool") || return 1
  [[ "$out" == *"$(expected_version "$tool")"* ]]
}

case "${1:-}" in
  --print-bindir)
    echo "$BIN_DIR"
    exit 0
    ;;
  --check)
    for t in "${TOOLS[@]}"; do tool_ok "$t" || exit 1; done
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--print-bindir|--check]" >&2
    exit 2
    ;;
esac

log() { printf '[build-tools] %s\n' "$*"; }
now() { date +%s; }

missing=()
for t in "${TOOLS[@]}"; do tool_ok "$t" || missing+=("$t"); done
if ((${#missing[@]} == 0)); then
  log "all ${#TOOLS[@]} tools cached in $BIN_DIR"
  exit 0
fi

if [[ -z "$GO" ]]; then
  echo "build-tools: go not found (want Go >= 1.26 at /usr/local/go/bin/go or on PATH)" >&2
  exit 1
fi

mkdir -p "$BIN_DIR" "$SRC_DIR" "$(dirname "$LOG_FILE")"
# One build at a time per cache (tests and make may call this concurrently).
exec 9>"$CACHE_DIR/.build-tools.lock"
flock 9
# Another run may have built them while this one waited for the lock.
missing=()
for t in "${TOOLS[@]}"; do tool_ok "$t" || missing+=("$t"); done
if ((${#missing[@]} == 0)); then
  log "all ${#TOOLS[@]} tools cached in $BIN_DIR"
  exit 0
fi

# Build with the local Go only (never download a toolchain), statically, for the 2-core machines.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
log "building ${missing[*]} into $BIN_DIR (Go: $("$GO" env GOVERSION), log: $LOG_FILE)"
start_all=$(now)

run() { # run a command, its output into the log; on failure show the log's tail
  echo "+ $*" >>"$LOG_FILE"
  if ! "$@" >>"$LOG_FILE" 2>&1; then
    echo "build-tools: failed: $*" >&2
    tail -n 60 "$LOG_FILE" >&2
    exit 1
  fi
}

# write_module DIR MODULE_PATH: a go.mod from stdin, then `go mod tidy` resolves and writes go.sum.
write_module() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/go.mod.new"
  if [[ -f "$dir/go.sum" ]] && cmp -s "$dir/go.mod.new" "$dir/go.mod.in"; then
    rm "$dir/go.mod.new"
    return 0
  fi
  mv "$dir/go.mod.new" "$dir/go.mod.in"
  cp "$dir/go.mod.in" "$dir/go.mod"
  rm -f "$dir/go.sum"
  (cd "$dir" && run "$GO" mod tidy)
}

# build_tool TOOL DIR PACKAGE LDFLAGS...: builds into a temp file, then moves it in place.
build_tool() {
  local tool=$1 dir=$2 pkg=$3 t0
  shift 3
  if tool_ok "$tool"; then
    log "$(printf '%-24s cached' "$tool")"
    return 0
  fi
  t0=$(now)
  (cd "$dir" && run "$GO" build -trimpath -ldflags "-s -w $*" -o "$BIN_DIR/.$tool.tmp" "$pkg")
  mv -f "$BIN_DIR/.$tool.tmp" "$BIN_DIR/$tool"
  if ! tool_ok "$tool"; then
    echo "build-tools: $tool was built but does not answer with $(expected_version "$tool"):" >&2
    version_of "$tool" >&2 || true
    exit 1
  fi
  log "$(printf '%-24s built in %4ss (total %ss)' "$tool" $(($(now) - t0)) $(($(now) - start_all)))"
}

needs() { # true when one of the given tools is missing
  local t m
  for t in "$@"; do for m in "${missing[@]}"; do [[ "$t" == "$m" ]] && return 0; done; done
  return 1
}

# --- Kubernetes ------------------------------------------------------------------------------
if needs kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  t0=$(now)
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with `replace => ./staging/...`,
  # which only apply inside its own repo: pin each to the matching published v0.x.y instead.
  kube_mod=$(cd "$SRC_DIR" && GOFLAGS=-mod=mod "$GO" list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION")
  staging_version="v0.${KUBE_VERSION#v1.}"
  replaces=$(awk -v v="$staging_version" \
    '$2 == "=>" && $3 ~ /^\.\/staging\// {printf "\t%s => %s %s\n", $1, $1, v}' "$kube_mod")
  if [[ -z "$replaces" ]]; then
    echo "build-tools: no staging replace directives found in $kube_mod" >&2
    exit 1
  fi
  write_module "$SRC_DIR/kubernetes" <<EOF
module cloudedge.local/tools/kubernetes

go 1.26.0

require k8s.io/kubernetes $KUBE_VERSION

replace (
$replaces
)

tool (
	k8s.io/kubernetes/cmd/kube-apiserver
	k8s.io/kubernetes/cmd/kube-controller-manager
	k8s.io/kubernetes/cmd/kube-scheduler
	k8s.io/kubernetes/cmd/kubectl
)
EOF
  log "$(printf '%-24s resolved in %4ss' "k8s.io/kubernetes" $(($(now) - t0)))"
  minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  kube_ldflags=()
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=("-X $p.gitVersion=$KUBE_VERSION" "-X $p.gitMajor=1" "-X $p.gitMinor=$minor"
      "-X $p.gitTreeState=clean")
  done
  for t in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    build_tool "$t" "$SRC_DIR/kubernetes" "k8s.io/kubernetes/cmd/$t" "${kube_ldflags[@]}"
  done
fi

# --- etcd --------------------------------------------------------------------------------------
if needs etcd etcdctl; then
  write_module "$SRC_DIR/etcd" <<EOF
module cloudedge.local/tools/etcd

go 1.26.0

require (
	go.etcd.io/etcd/etcdctl/v3 $ETCD_VERSION
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
)

tool (
	go.etcd.io/etcd/etcdctl/v3
	go.etcd.io/etcd/server/v3
)
EOF
  build_tool etcd "$SRC_DIR/etcd" go.etcd.io/etcd/server/v3
  build_tool etcdctl "$SRC_DIR/etcd" go.etcd.io/etcd/etcdctl/v3
fi

# --- kwok ------------------------------------------------------------------------------------
if needs kwok kwokctl; then
  write_module "$SRC_DIR/kwok" <<EOF
module cloudedge.local/tools/kwok

go 1.26.0

require sigs.k8s.io/kwok $KWOK_VERSION

tool (
	sigs.k8s.io/kwok/cmd/kwok
	sigs.k8s.io/kwok/cmd/kwokctl
)
EOF
  # KubeVersion is kwokctl's default Kubernetes version: make it the one we built.
  kwok_ldflags=("-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
    "-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}")
  build_tool kwok "$SRC_DIR/kwok" sigs.k8s.io/kwok/cmd/kwok "${kwok_ldflags[@]}"
  build_tool kwokctl "$SRC_DIR/kwok" sigs.k8s.io/kwok/cmd/kwokctl "${kwok_ldflags[@]}"
fi

# --- helm ------------------------------------------------------------------------------------
if needs helm; then
  write_module "$SRC_DIR/helm" <<EOF
module cloudedge.local/tools/helm

go 1.26.0

require helm.sh/helm/v3 $HELM_VERSION

tool helm.sh/helm/v3/cmd/helm
EOF
  build_tool helm "$SRC_DIR/helm" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.gitTreeState=clean"
fi

for t in "${TOOLS[@]}"; do
  tool_ok "$t" || {
    echo "build-tools: $t is missing after the build" >&2
    exit 1
  }
done
log "done in $(($(now) - start_all))s: $BIN_DIR"
