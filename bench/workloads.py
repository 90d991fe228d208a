"""Seeded cloud/edge clusters and workloads for the benchmarks; the page states these numbers.

One generator serves the scoring-core timings (100 to 5,000 nodes), the placement-quality
comparison (50 nodes, 500 pods) and, as Kubernetes Node objects, the end-to-end clusters.
"""

from __future__ import annotations

import random
from typing import Any

from cloudedge import model

GIB = 2.0**30
MIB = 2.0**20
CLOUD_FRACTION = 0.2
EDGE_NODES_PER_SITE = 5
CLOUD_ZONES = ("cloud-east", "cloud-west")
WAN = model.Topology(cloud_edge_latency_ms=40.0, cloud_edge_bandwidth_mbps=50.0)
"""Default latencies (0.5 ms same site, 5 ms same tier, 40 ms cloud-edge) and a 50 Mbit/s
cap on every cloud-edge path: the WAN uplink, slower than any edge LAN."""

NODE_TEXT = (
    "a fifth of the nodes are cloud nodes (16 or 32 CPU, 4 GiB per CPU, 10,000 Mbit/s, zones "
    "`cloud-east`/`cloud-west` alternating), the rest edge nodes (2, 4 or 8 CPU, 2 GiB per CPU, "
    "100, 200 or 500 Mbit/s, five per site `site-K`), each value uniform; 110 pods per node; "
    "compute rate = allocatable millicores; network: the model's default latencies (0.5 ms "
    "same site, 5 ms same tier, 40 ms cloud-edge) with every cloud-edge path capped at "
    "50 Mbit/s"
)
POD_TEXT = (
    "| workload | share | CPU request | memory | compute cost (work units) | data source | "
    "data size | deadline |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    "| latency-sensitive | 40% | 250m | 256-512 MiB | 100-500 | an edge site | 0.5-2 MB | "
    "100-400 ms |\n"
    "| compute-intensive | 15% | 1000m or 2000m | 2-8 GiB | 20,000-200,000 | a cloud zone (70%) or "
    "an edge site | 10-100 MB | none |\n"
    "| data-intensive | 20% | 500m or 1000m | 1-2 GiB | 1,000-10,000 | an edge site (60%) or a "
    "cloud zone | 100-1000 MB | none |\n"
    "| batch | 25% | 250m-1000m (250m steps) | 0.5-2 GiB | 0-5,000 | none (50%) or any site | "
    "0-50 MB | none |\n\n"
    "Every range is uniform; sites and zones are drawn uniformly; pods arrive shuffled in that "
    "mix. Memory is rounded to MiB, CPU to millicores."
)


def node_specs(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Plain per-node facts (name, tier, site, cpu millicores, memory bytes, bandwidth)."""
    specs: list[dict[str, Any]] = []
    edge_k = 0
    every = round(1 / CLOUD_FRACTION)
    for i in range(n):
        # Every fifth node is a cloud node, so any prefix of the list mixes both tiers.
        is_cloud = i % every == 0
        if is_cloud:
            cpu = rng.choice((16, 32))
            specs.append(
                {
                    "name": f"cloud-{i:05d}",
                    "tier": "cloud",
                    "site": CLOUD_ZONES[i % 2],
                    "cpu_m": cpu * 1000.0,
                    "memory": cpu * 4 * GIB,
                    "bandwidth": 10000.0,
                }
            )
        else:
            cpu = rng.choice((2, 4, 8))
            specs.append(
                {
                    "name": f"edge-{i:05d}",
                    "tier": "edge",
                    "site": f"site-{edge_k // EDGE_NODES_PER_SITE:03d}",
                    "cpu_m": cpu * 1000.0,
                    "memory": cpu * 2 * GIB,
                    "bandwidth": float(rng.choice((100, 200, 500))),
                }
            )
            edge_k += 1
    return specs


def model_nodes(n: int, rng: random.Random, *, used_fraction: float = 0.0) -> list[model.Node]:
    """``n`` model nodes; each node's usage drawn uniform in 0..``used_fraction`` of it."""
    nodes = []
    for s in node_specs(n, rng):
        u = rng.uniform(0.0, used_fraction)
        nodes.append(
            model.Node(
                name=s["name"],
                tier=model.Tier(s["tier"]),
                site=s["site"],
                bandwidth_mbps=s["bandwidth"],
                compute_rate=s["cpu_m"],
                allocatable=model.ResourceList(
                    {"cpu": s["cpu_m"], "memory": s["memory"], "pods": 110.0}
                ),
                used=model.ResourceList(
                    {"cpu": round(s["cpu_m"] * u), "memory": round(s["memory"] * u)}
                ),
            )
        )
    return nodes


MIXED_TEXT = (
    "5 cloud nodes (16 or 32 CPU, 4 GiB per CPU, 10,000 Mbit/s, zones `cloud-east`/"
    "`cloud-west`) and 35 edge nodes (2 or 4 CPU, 2 GiB per CPU, 100, 200 or 500 Mbit/s, five "
    "per site), each value uniform; the same network and pod mix as the generated scenarios"
)


def mixed_nodes(rng: random.Random) -> list[model.Node]:
    """5 cloud nodes of 16-32 CPU and 35 edge nodes of 2-4 CPU (:data:`MIXED_TEXT`)."""
    nodes = []
    for i in range(40):
        if i < 5:
            cpu, tier, site, bw = rng.choice((16, 32)), "cloud", CLOUD_ZONES[i % 2], 10000.0
            mem = cpu * 4 * GIB
        else:
            cpu, tier = rng.choice((2, 4)), "edge"
            site, bw = f"site-{(i - 5) // EDGE_NODES_PER_SITE:03d}", rng.choice((100, 200, 500))
            mem = cpu * 2 * GIB
        nodes.append(
            model.Node(
                name=f"{tier}-{i:05d}",
                tier=model.Tier(tier),
                site=site,
                bandwidth_mbps=float(bw),
                compute_rate=cpu * 1000.0,
                allocatable=model.ResourceList({"cpu": cpu * 1000.0, "memory": mem, "pods": 110.0}),
            )
        )
    return nodes


def edge_sites(nodes: list[model.Node]) -> list[str]:
    return sorted({nd.site for nd in nodes if nd.tier is model.Tier.EDGE})


def pods(count: int, rng: random.Random, sites: list[str], *, prefix: str = "p") -> list[model.Pod]:
    """``count`` pods of the mix in :data:`POD_TEXT`, reading from ``sites`` (edge sites)."""
    kinds = (
        [model.Workload.LATENCY_SENSITIVE] * 40
        + [model.Workload.COMPUTE_INTENSIVE] * 15
        + [model.Workload.DATA_INTENSIVE] * 20
        + [model.Workload.BATCH] * 25
    )
    out = []
    for k in range(count):
        kind = kinds[k % len(kinds)]
        deadline: float | None = None
        source: str | None
        if kind is model.Workload.LATENCY_SENSITIVE:
            cpu, mem = 250.0, rng.uniform(256, 512) * MIB
            cost, source, size = rng.uniform(100, 500), rng.choice(sites), rng.uniform(0.5, 2)
            deadline = rng.uniform(100, 400)
        elif kind is model.Workload.COMPUTE_INTENSIVE:
            cpu, mem = rng.choice((1000.0, 2000.0)), rng.uniform(2, 8) * GIB
            cost = rng.uniform(20_000, 200_000)
            source = rng.choice(CLOUD_ZONES) if rng.random() < 0.7 else rng.choice(sites)
            size = rng.uniform(10, 100)
        elif kind is model.Workload.DATA_INTENSIVE:
            cpu, mem = rng.choice((500.0, 1000.0)), rng.uniform(1, 2) * GIB
            cost = rng.uniform(1_000, 10_000)
            source = rng.choice(sites) if rng.random() < 0.6 else rng.choice(CLOUD_ZONES)
            size = rng.uniform(100, 1000)
        else:
            cpu, mem = rng.choice((250.0, 500.0, 750.0, 1000.0)), rng.uniform(0.5, 2) * GIB
            cost = rng.uniform(0, 5_000)
            source = None if rng.random() < 0.5 else rng.choice([*sites, *CLOUD_ZONES])
            size = rng.uniform(0, 50) if source else 0.0
        out.append(
            model.Pod(
                name=f"{prefix}-{k:05d}",
                namespace="bench",
                uid=f"uid-{prefix}-{k}",
                requests=model.ResourceList(
                    {"cpu": cpu, "memory": float(round(mem / MIB) * MIB), "pods": 1.0}
                ),
                workload=kind,
                compute_cost=round(cost, 1),
                data_source=source,
                data_size_mb=round(size, 2),
                max_latency_ms=round(deadline) if deadline is not None else None,
            )
        )
    rng.shuffle(out)
    return out


def kube_nodes(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """The same cluster as Node objects for kwok (like hack/nodes/default.yaml)."""
    objs = []
    for s in node_specs(n, rng):
        alloc = {
            "cpu": str(int(s["cpu_m"] // 1000)),
            "memory": f"{int(s['memory'] // GIB)}Gi",
            "pods": "110",
        }
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": s["name"],
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "type": "kwok",
                        # The beta labels too, as a kubelet sets them: added after the
                        # node exists, they were a model change per node while the
                        # first run of a fresh cluster was timed (a state rebuild each).
                        "beta.kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/hostname": s["name"],
                        "topology.kubernetes.io/zone": s["site"],
                        "cloudedge.io/tier": s["tier"],
                        "cloudedge.io/site": s["site"],
                        "cloudedge.io/bandwidth-mbps": str(int(s["bandwidth"])),
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": alloc,
                    "capacity": dict(alloc),
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": "fake",
                        "kubeProxyVersion": "fake",
                    },
                    "phase": "Running",
                },
            }
        )
    return objs
