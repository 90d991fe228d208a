# Sourced by hack/kind/up.sh and down.sh after common.sh (kept apart from common.sh, whose
# digest names the node images: an edit here rebuilds nothing).

# delete_cluster NAME COMMAND...: run COMMAND (a `kind delete cluster` of NAME), thawing the
# nodes first (thaw_cluster) and again before each of two more tries. The freeze can also
# happen during the deletion: a node that dockerd restarted at its own start is starting pods,
# and a runc killed with it halfway through a device update leaves that pod's cgroup frozen
# (seen here after a machine restart: thawed before the first try, the delete still failed
# with "did not receive an exit event"; thawed again, it went).
delete_cluster() {
  local name=$1 try
  shift
  for try in 1 2 3; do
    thaw_cluster "$name"
    if timeout 300 "$@" >&2; then
      return 0
    fi
    kind_log "deleting kind cluster $name failed (try $try of 3)"
    sleep 2
  done
  kind_die "could not delete kind cluster $name; see docker ps -a --filter label=io.x-k8s.kind.cluster=$name"
}
