"""Small constructors for model inputs, so tests state only what matters to them."""

from __future__ import annotations

from cloudedge import model

GI = 2**30


def cloud(
    name: str = "cloud-1", *, cpu: float = 8000, mem: float = 32 * GI, **kw: object
) -> model.Node:
    """A cloud node: big, fast, at site ``cloud`` by default."""
    args: dict[str, object] = {
        "tier": model.Tier.CLOUD,
        "site": "cloud",
        "bandwidth_mbps": 10000.0,
        "compute_rate": cpu,
        "allocatable": {"cpu": cpu, "memory": mem, "pods": 110.0},
    }
    args.update(kw)
    return model.Node(name=name, **args)  # type: ignore[arg-type]


def edge(
    name: str = "edge-1", *, cpu: float = 2000, mem: float = 4 * GI, **kw: object
) -> model.Node:
    """An edge node: small, slow link, its own site named after it by default."""
    args: dict[str, object] = {
        "tier": model.Tier.EDGE,
        "site": f"site-{name}",
        "bandwidth_mbps": 100.0,
        "compute_rate": cpu,
        "allocatable": {"cpu": cpu, "memory": mem, "pods": 110.0},
    }
    args.update(kw)
    return model.Node(name=name, **args)  # type: ignore[arg-type]


def pod(name: str = "p", *, cpu: float = 100, mem: float = 0, **kw: object) -> model.Pod:
    """A pod requesting ``cpu`` millicores and ``mem`` bytes."""
    return model.Pod(name=name, requests={"cpu": cpu, "memory": mem, "pods": 1.0}, **kw)  # type: ignore[arg-type]
