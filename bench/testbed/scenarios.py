"""The testbed's scenarios: the examples' clusters and workloads, in their arrival order.

* ``seed``: ``examples/seed`` (the seed article's 3 cloud + 5 edge nodes, ten tasks).
* ``video-analytics``: ``examples/video-analytics`` (five stores, three cloud nodes).
* ``burst``: the video-analytics cluster hit by a burst with deadlines, all submitted at once:
  detection pods of every store (deadline 500 ms in scenario time) interleaved with re-indexing
  and training jobs that compete for the same nodes. ``examples/burst`` itself has 40 nodes,
  more than a kind cluster on this machine holds; this one keeps its mix on 8 nodes.

Each scenario carries its work scale (:class:`bench.testbed.plan.Scale`): the factor on
compute-cost and data size that makes its longest task take about a minute on the testbed.
"""

from __future__ import annotations

import dataclasses
import pathlib

from cloudedge import model, simulate

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


CPU_BUDGET = 0.9
"""The CPUs the node quotas sum to by default, and the budget each scenario's work scale is
chosen at: 0.9 of the one CPU the tasks have to themselves on a 2-CPU host (the rest of it
for the data servers)."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A scenario's nodes, topology and pods (arrival order), and its work scale."""

    name: str
    nodes: tuple[model.Node, ...]
    topology: model.Topology | None
    pods: tuple[model.Pod, ...]
    work: float
    """The work scale at :data:`CPU_BUDGET`."""

    def work_at(self, cpu_budget: float) -> float:
        """The work scale at ``cpu_budget``: in proportion, so that a scenario takes the same
        testbed time at any budget (time scales as work over rate)."""
        return self.work * cpu_budget / CPU_BUDGET


def _load(name: str, directory: str, *, work: float) -> Scenario:
    sim = simulate.build(
        [EXAMPLES / directory / "nodes.yaml", EXAMPLES / directory / "workloads.yaml"]
    )
    if sim.rejected:
        key, why = sim.rejected[0]
        raise ValueError(f"scenario {name}: pod {key} is invalid: {why}")
    return Scenario(
        name=name,
        nodes=tuple(sim.cluster.nodes),
        topology=sim.cluster.topology,
        pods=tuple(sim.pods),
        work=work,
    )


def burst_pods() -> tuple[model.Pod, ...]:
    """The burst: 20 detection pods with deadlines, 4 re-indexing and 2 training jobs, mixed.

    Deterministic: a fixed interleaving, so that every scheduler sees the same arrival order.
    """
    mib = 1024.0 * 1024.0
    pods: list[model.Pod] = []
    heavy = [
        model.Pod(
            name=f"index-store-{k}",
            requests=model.ResourceList({"cpu": 500.0, "memory": 1024 * mib, "pods": 1.0}),
            workload=model.Workload.DATA_INTENSIVE,
            compute_cost=4000.0,
            data_source=f"store-{k}",
            data_size_mb=200.0,
        )
        for k in (1, 2, 3, 4)
    ] + [
        model.Pod(
            name=f"train-{k}",
            requests=model.ResourceList({"cpu": 2000.0, "memory": 4096 * mib, "pods": 1.0}),
            workload=model.Workload.COMPUTE_INTENSIVE,
            compute_cost=60000.0,
            data_source="cloud",
            data_size_mb=200.0,
        )
        for k in (1, 2)
    ]
    for k in range(20):
        store = k % 5 + 1
        pods.append(
            model.Pod(
                name=f"detect-store-{store}-{k // 5}",
                requests=model.ResourceList({"cpu": 250.0, "memory": 512 * mib, "pods": 1.0}),
                workload=model.Workload.LATENCY_SENSITIVE,
                compute_cost=200.0,
                data_source=f"store-{store}",
                data_size_mb=2.0,
                max_latency_ms=500.0,
            )
        )
        if k % 3 == 2 and heavy:
            pods.append(heavy.pop(0))
    pods.extend(heavy)
    return tuple(pods)


def load(name: str) -> Scenario:
    """The scenario ``name`` (one of :data:`NAMES`)."""
    if name == "seed":
        # Seed tasks take about 0.3 s in scenario time; x4.8 work makes them seconds on the
        # testbed.
        return _load("seed", "seed", work=4.8)
    if name == "video-analytics":
        # Training takes a minute of CPU in scenario time, and queues: at rate 0.9/40 CPUs per
        # scenario CPU, work x0.012 (time x0.53) keeps the run within about two minutes.
        return _load("video-analytics", "video-analytics", work=0.012)
    if name == "burst":
        # The burst's longest task (training, 60000 units on a 2-CPU share) is ~8 s of scenario
        # CPU: work x0.024 (time x1.07) leaves the short detection tasks above a second.
        base = _load("burst", "video-analytics", work=0.024)
        return dataclasses.replace(base, pods=burst_pods())
    raise ValueError(f"scenario {name!r}: unknown; use one of {', '.join(NAMES)}")


NAMES = ("seed", "video-analytics", "burst")


def check_sources(scenario: Scenario) -> list[str]:
    """Data sources that name neither a node nor a site with nodes (the testbed cannot serve)."""
    names = {n.name for n in scenario.nodes}
    sites = {n.site for n in scenario.nodes}
    return sorted(
        {
            p.data_source
            for p in scenario.pods
            if p.data_source is not None and p.data_source not in names | sites
        }
    )
