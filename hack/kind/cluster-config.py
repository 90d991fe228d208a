#!/usr/bin/env python3
"""Writes the kind cluster config for `make kind-up` (hack/kind/up.sh), as JSON (kind reads it).

Why generated: the nodes' allocatable CPU and memory must equal the seed's capacities (1000m/4Gi
cloud, 500m/2Gi edge; examples/seed/nodes.yaml), and a kind node otherwise reports the whole
host. The kubelet reservation that gets there is capacity minus target, and the capacity is this
host's, known only here. The reservation is passed per node through the kubelet's
/etc/default/kubelet (KUBELET_EXTRA_ARGS, read by kind's kubelet unit), mounted from a file this
script writes next to the config.

Node names are the seed's (cloud-node-1, edge-node-1, ...), so that the examples' data sources
(`cloudedge.io/data-source: edge-node-1`) name real nodes. Stdlib only: it runs before any venv.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB
# What the kubelet keeps back for itself before eviction; part of the reservation arithmetic.
EVICTION_MEMORY = 100 * MIB

# (name, tier, bandwidth Mbps, site, cpu millicores, memory bytes), as examples/seed/nodes.yaml.
SEED_NODES = [
    *[(f"cloud-node-{i}", "cloud", 1000, "cloud", 1000, 4 * GIB) for i in (1, 2, 3)],
    *[(f"edge-node-{i}", "edge", 500, f"edge-site-{i}", 500, 2 * GIB) for i in (1, 2, 3, 4, 5)],
]
TOPOLOGIES = {
    "seed": SEED_NODES,
    # One of each tier: CI machines that cannot afford nine nodes, and quick local checks.
    "small": [SEED_NODES[0], SEED_NODES[3]],
}


def host_capacity() -> tuple[int, int]:
    """CPU millicores and memory bytes the kubelet of a kind node reports: the host's."""
    cpus = len(os.sched_getaffinity(0))
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return cpus * 1000, int(line.split()[1]) * 1024
    raise SystemExit("cluster-config: no MemTotal in /proc/meminfo")


def kubelet_env(cpu_m: int, memory: int, host_cpu_m: int, host_memory: int) -> str:
    reserved_cpu = host_cpu_m - cpu_m
    reserved_memory = host_memory - memory - EVICTION_MEMORY
    if reserved_cpu < 0 or reserved_memory < 0:
        raise SystemExit(
            f"cluster-config: this host ({host_cpu_m}m CPU, {host_memory // MIB} MiB) is smaller "
            f"than a node of the topology ({cpu_m}m, {memory // MIB} MiB)"
        )
    args = [
        # kind's own /etc/default/kubelet line, kept.
        "--runtime-cgroups=/system.slice/containerd.service",
        f"--system-reserved=cpu={reserved_cpu}m,memory={reserved_memory // 1024}Ki",
        f"--eviction-hard=memory.available<{EVICTION_MEMORY // MIB}Mi,nodefs.available<0%,"
        "nodefs.inodesFree<0%,imagefs.available<0%",
    ]
    return f'KUBELET_EXTRA_ARGS="{" ".join(args)}"\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--topology", choices=sorted(TOPOLOGIES), default="seed")
    parser.add_argument("--state-dir", type=Path, required=True, help="where the files go")
    parser.add_argument("--control-plane-image", default="")
    parser.add_argument("--worker-image", default="")
    parser.add_argument("--etcd-tag", default="", help="etcd image tag of a local node image")
    parser.add_argument(
        "--restrict-oom-score-adj",
        action="store_true",
        help="the host lacks CAP_SYS_RESOURCE: runc cannot set negative oom_score_adj",
    )
    args = parser.parse_args()

    host_cpu_m, host_memory = host_capacity()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    cluster_patches = [
        # kubelet 1.37 refuses cgroup v1 unless told; harmless on cgroup v2 hosts.
        "kind: KubeletConfiguration\nfailCgroupV1: false\n",
    ]
    if args.etcd_tag:
        cluster_patches.append(
            f"kind: ClusterConfiguration\netcd:\n  local:\n    imageTag: {args.etcd_tag}\n"
        )
    control_plane: dict[str, object] = {"role": "control-plane"}
    if args.control_plane_image:
        control_plane["image"] = args.control_plane_image
    nodes: list[dict[str, object]] = [control_plane]
    for name, tier, bandwidth, site, cpu_m, memory in TOPOLOGIES[args.topology]:
        env_file = args.state_dir / f"kubelet-{name}.env"
        env_file.write_text(kubelet_env(cpu_m, memory, host_cpu_m, host_memory))
        node: dict[str, object] = {
            "role": "worker",
            "labels": {
                "cloudedge.io/tier": tier,
                "cloudedge.io/bandwidth-mbps": str(bandwidth),
                "cloudedge.io/site": site,
                "topology.kubernetes.io/zone": site,
            },
            "extraMounts": [
                {
                    "hostPath": str(env_file.resolve()),
                    "containerPath": "/etc/default/kubelet",
                    "readOnly": True,
                }
            ],
            "kubeadmConfigPatches": [
                f"kind: JoinConfiguration\nnodeRegistration:\n  name: {name}\n"
            ],
        }
        if args.worker_image:
            node["image"] = args.worker_image
        nodes.append(node)
    config: dict[str, object] = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": args.name,
        "networking": {
            # The API server listens on loopback only.
            "apiServerAddress": "127.0.0.1",
            # hack/kind/up.sh wires a ptp/host-local CNI: kindnetd's image cannot be built here.
            "disableDefaultCNI": True,
            "kubeProxyMode": "nftables",
        },
        "kubeadmConfigPatches": cluster_patches,
        "nodes": nodes,
    }
    if args.restrict_oom_score_adj:
        config["containerdConfigPatches"] = [
            '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n'
        ]
    out = args.state_dir / "cluster.json"
    out.write_text(json.dumps(config, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
