#!/usr/bin/env bash
# Builds the binaries a kind cluster needs that the control-plane tool build
# (hack/build-tools.sh) does not make, from upstream sources at pinned versions:
#   kind                 sigs.k8s.io/kind, a released version, from the Go module proxy
#   kubelet kubeadm kube-proxy   k8s.io/kubernetes, same version and pins as hack/build-tools.sh
#   crictl               sigs.k8s.io/cri-tools
#   coredns              github.com/coredns/coredns (the cluster DNS the kind nodes run)
#   pause                gcc, static, from kubernetes' build/pause/linux/pause.c in the module source
# into $CACHE_DIR/kind/<key>/bin/ (see common.sh). Each binary is written to a temporary name and
# renamed once it built and answers, so an interrupted build leaves nothing that looks finished.
# Go builds reuse the machine's Go build cache, warm from hack/build-tools.sh.
#
# Usage: hack/kind/build-binaries.sh [TOOL...]   (no TOOL: all of them)
set -o errexit -o nounset -o pipefail
KIND_LOG_PREFIX=kind-build
# shellcheck source=hack/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LOG_FILE="$KIND_LOG_DIR/kind-binaries-$KIND_KEY.log"
SRC_DIR="$CACHE_DIR/src/kind-$KIND_KEY"
mkdir -p "$KIND_BIN" "$KIND_TMP" "$KIND_LOG_DIR" "$SRC_DIR"
[[ -n "$GO" ]] || kind_die "go not found (want Go >= 1.26 at /usr/local/go/bin/go or on PATH)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
export GOPROXY=${GOPROXY:-https://proxy.golang.org}

# One build at a time per cache: a second caller waits, then finds everything built.
exec 9>"$KIND_CACHE/.binaries.lock"
flock 9
clean_stale_tmp

WANTED=("$@")
want() { # want TOOL: no tool named on the command line means every tool
  ((${#WANTED[@]} == 0)) && return 0
  local w
  for w in "${WANTED[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}

answers() { # answers TOOL EXPECTED: the binary exists and prints EXPECTED in its version
  local out
  [[ -x "$KIND_BIN/$1" ]] || return 1
  case "$1" in
    pause) out=$("$KIND_BIN/pause" -v 2>&1) ;;
    crictl) out=$(timeout 20 "$KIND_BIN/crictl" --version 2>&1) ;;
    coredns) out=$(timeout 20 "$KIND_BIN/coredns" -version 2>&1) ;;
    kind | kubeadm) out=$(timeout 20 "$KIND_BIN/$1" version 2>&1) ;;
    *) out=$(timeout 20 "$KIND_BIN/$1" --version 2>&1) ;;
  esac
  [[ "$out" == *"$2"* ]]
}

# go_build TOOL MODULE_DIR PACKAGE [LDFLAGS...]
go_build() {
  local tool=$1 dir=$2 pkg=$3
  shift 3
  (cd "$dir" && run_logged "$LOG_FILE" "$GO" build -trimpath -ldflags "-s -w $*" \
    -o "$KIND_BIN/.$tool.tmp.$$" "$pkg")
  mv -f "$KIND_BIN/.$tool.tmp.$$" "$KIND_BIN/$tool"
}

# write_module DIR: go.mod from stdin; `go mod tidy` only when it changed since the last run.
write_module() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/go.mod.new"
  if [[ -f "$dir/go.sum" ]] && cmp -s "$dir/go.mod.new" "$dir/go.mod.in"; then
    rm "$dir/go.mod.new"
    return 0
  fi
  cp "$dir/go.mod.new" "$dir/go.mod"
  rm -f "$dir/go.sum"
  (cd "$dir" && run_logged "$LOG_FILE" "$GO" mod tidy)
  mv "$dir/go.mod.new" "$dir/go.mod.in"
}

# --- kind --------------------------------------------------------------------------------------
build_kind() {
  write_module "$SRC_DIR/kind" <<EOM
module cloudedge.local/tools/kind

go 1.26.0

require sigs.k8s.io/kind $KIND_VERSION

tool sigs.k8s.io/kind
EOM
  go_build kind "$SRC_DIR/kind" sigs.k8s.io/kind
}
want kind && step "kind $KIND_VERSION" "answers kind $KIND_VERSION" build_kind

# --- kubelet, kubeadm, kube-proxy --------------------------------------------------------------
kube_module() {
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with `replace => ./staging/...`:
  # pinned to the published v0.x.y instead, exactly as hack/build-tools.sh does.
  local kube_mod replaces
  kube_mod=$(cd "$SRC_DIR" && "$GO" list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION")
  replaces=$(awk -v v="v0.${KUBE_VERSION#v1.}" \
    '$2 == "=>" && $3 ~ /^\.\/staging\// {printf "\t%s => %s %s\n", $1, $1, v}' "$kube_mod")
  [[ -n "$replaces" ]] || kind_die "no staging replace directives found in $kube_mod"
  write_module "$SRC_DIR/kubernetes" <<EOM
module cloudedge.local/tools/kind-kubernetes

go 1.26.0

require k8s.io/kubernetes $KUBE_VERSION

replace (
$replaces
)

tool (
	k8s.io/kubernetes/cmd/kubelet
	k8s.io/kubernetes/cmd/kubeadm
	k8s.io/kubernetes/cmd/kube-proxy
)
EOM
}
kube_ldflags() {
  local minor=${KUBE_VERSION#v1.} p
  minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf '%s ' "-X $p.gitVersion=$KUBE_VERSION" "-X $p.gitMajor=1" "-X $p.gitMinor=$minor" \
      "-X $p.gitTreeState=clean"
  done
}
module_ready=""
for tool in kubelet kubeadm kube-proxy; do
  eval "build_$tool() {
    [[ -n \"\$module_ready\" ]] || { kube_module; module_ready=1; }
    # shellcheck disable=SC2046
    go_build $tool \"\$SRC_DIR/kubernetes\" k8s.io/kubernetes/cmd/$tool \$(kube_ldflags)
  }"
  want "$tool" && step "$tool $KUBE_VERSION" "answers $tool $KUBE_VERSION" "build_$tool"
done

# --- crictl ------------------------------------------------------------------------------------
build_crictl() {
  write_module "$SRC_DIR/cri-tools" <<EOM
module cloudedge.local/tools/cri-tools

go 1.26.0

require sigs.k8s.io/cri-tools $CRICTL_VERSION

tool sigs.k8s.io/cri-tools/cmd/crictl
EOM
  go_build crictl "$SRC_DIR/cri-tools" sigs.k8s.io/cri-tools/cmd/crictl \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
}
want crictl && step "crictl $CRICTL_VERSION" "answers crictl ${CRICTL_VERSION}" build_crictl

# --- CoreDNS -----------------------------------------------------------------------------------
# Only the plugins a kubeadm Corefile names (plus log, hosts and rewrite, for a user's edits):
# CoreDNS's own main links every plugin, cloud DNS back ends and their SDKs included, which took
# 723 s of a cold build here. A main of our own registers these, as CoreDNS documents for
# external plugins; the directive order stays CoreDNS's (core/dnsserver).
COREDNS_PLUGINS=(cache errors forward health hosts kubernetes loadbalance log loop metrics ready
  reload rewrite)
build_coredns() {
  local p
  mkdir -p "$SRC_DIR/coredns"
  {
    printf '// Code generated by hack/kind/build-binaries.sh. DO NOT EDIT.\n\n'
    printf '// CoreDNS with the plugins a kind cluster uses.\npackage main\n\nimport (\n'
    for p in "${COREDNS_PLUGINS[@]}"; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
    printf '\n\t"github.com/coredns/coredns/coremain"\n)\n\nfunc main() { coremain.Run() }\n'
  } >"$SRC_DIR/coredns/main.go"
  write_module "$SRC_DIR/coredns" <<EOM
module cloudedge.local/tools/coredns

go 1.26.0

require github.com/coredns/coredns $COREDNS_VERSION
EOM
  go_build coredns "$SRC_DIR/coredns" .
}
coredns_done() { # the version, our plugins, and not CoreDNS's full set (route53 is in that one)
  local got p
  answers coredns "${COREDNS_VERSION#v}" || return 1
  got=" $(timeout 20 "$KIND_BIN/coredns" -plugins 2>/dev/null | tr '\n' ' ') "
  [[ "$got" != *" route53 "* ]] || return 1
  for p in "${COREDNS_PLUGINS[@]/metrics/prometheus}"; do [[ "$got" == *" $p "* ]] || return 1; done
}
want coredns && step "coredns $COREDNS_VERSION" coredns_done build_coredns

# --- pause -------------------------------------------------------------------------------------
build_pause() {
  local src
  src=$(cd "$SRC_DIR" && "$GO" list -m -f '{{.Dir}}' "k8s.io/kubernetes@$KUBE_VERSION" 2>/dev/null ||
    true)
  if [[ -z "$src" || ! -f "$src/build/pause/linux/pause.c" ]]; then
    run_logged "$LOG_FILE" "$GO" mod download "k8s.io/kubernetes@$KUBE_VERSION"
    src=$("$GO" env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
  fi
  command -v gcc >/dev/null || kind_die "gcc is needed to build pause (apt-get install gcc libc6-dev)"
  # The flags of kubernetes' build/pause/Makefile: small, static, warnings are errors.
  run_logged "$LOG_FILE" gcc -Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION-cloudedge" \
    -o "$KIND_BIN/.pause.tmp.$$" "$src/build/pause/linux/pause.c"
  mv -f "$KIND_BIN/.pause.tmp.$$" "$KIND_BIN/pause"
}
want pause && step "pause $PAUSE_VERSION" "answers pause v$PAUSE_VERSION" build_pause
exit 0
