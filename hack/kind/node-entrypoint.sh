#!/bin/sh
# Entry point of the locally built kind node image, run before kind's own entrypoint.
# Where Docker cannot grant --privileged (a host whose capability bounding set lacks
# CAP_SYS_RESOURCE; see hack/kind/docker-shim/docker), nodes run with every other capability but
# Docker still mounts /sys and the cgroup hierarchies read-only; systemd, the kubelet and
# containerd need them writable. A privileged node already has them writable, and this does
# nothing.
set -eu
# /sys is the container's own sysfs: its superblock is remounted. The cgroup hierarchies are
# bind mounts of the host's: only the mount's flag changes ("mount point is busy" otherwise).
if grep -q ' /sys sysfs ro[,]' /proc/self/mounts; then
  mount -o remount,rw /sys
fi
awk '$2 ~ "^/sys/fs/cgroup" && $4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/self/mounts | while read -r m; do
  mount -o remount,rw,bind "$m"
done
exec /usr/local/bin/entrypoint "$@"
